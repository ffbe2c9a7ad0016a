"""`scripts/pipeline.sh`: argument handling, and tiny search -> final -> export runs that resume and skip."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch, export, pipeline
from enas_tf2.errors import FlagError
from fake_cifar import write_fake_cifar
from fake_ptb import write_fake_ptb

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY_MACRO = [
    "--child_num_layers=3", "--child_out_filters=4", "--batch_size=16", "--num_valid_images=40", "--num_epochs=1",
    "--controller_train_steps=2", "--controller_num_aggregate=2", "--derive_samples=4", "--log_every=2", "--seed=1",
]
TINY_PTB = [
    "--batch_size=8", "--child_hidden_size=16", "--log_every=10", "--seed=1", "--num_epochs=1", "--child_rhn_depth=4",
    "--controller_train_steps=2", "--controller_num_aggregate=2", "--derive_samples=5",
]


def run_pipeline(args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([str(REPO / "scripts" / "pipeline.sh"), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nSTDOUT:\n{result.stdout[-4000:]}\nSTDERR:\n{result.stderr[-6000:]}")
    return result


def test_plan_reads_the_space_output_dir_and_stage_flags():
    plan = pipeline.plan(["micro", "--output_dir=out", "--num_epochs=1", "--data_path=d"])
    assert plan.search_script == "cifar10_micro_search.sh"
    assert plan.stage_flags == ("--num_epochs=1", "--data_path=d")
    assert (plan.search_dir, plan.final_dir, plan.export_dir) == ("out/search", "out/final", "out/export")
    assert pipeline.plan(["ptb", "--output_dir=o"]).search_script == "ptb_search.sh"
    original = pipeline.plan(["ptb", "--output_dir=o", "--ptb_impl=enas_lm", "--ptb_impl=original"])
    assert original.search_script == "ptb_search_original.sh"


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "must be the space"),
        (["imagenet", "--output_dir=o"], "must be the space.*got imagenet"),
        (["macro"], "--output_dir=DIR is required"),
        (["macro", "--output_dir=o", "extra"], "positional argument 'extra'"),
        (["macro", "--output_dir=o", "--child_fixed_arc=0"], "--child_fixed_arc is set by the pipeline"),
        (["ptb", "--output_dir=o", "--export_dir=e"], "--export_dir is set by the pipeline"),
    ],
)
def test_bad_arguments_are_clear_errors(argv, message):
    with pytest.raises(FlagError, match=message):
        pipeline.plan(argv)


def test_final_stage_args_come_from_the_command_the_search_wrote(tmp_path):
    (tmp_path / "final_arc.txt").write_text(
        "0 1 0\n# best of 4 ...\n# train it from scratch with:\n"
        "# scripts/cifar10_macro_final.sh --data_path=/d --output_dir=/s/final --child_num_layers=2 "
        "'--child_fixed_arc=0 1 0'\n"
    )
    script, args = pipeline.final_stage_args(str(tmp_path))
    assert script == "cifar10_macro_final.sh"
    assert args == ["--data_path=/d", "--child_num_layers=2", "--child_fixed_arc=0 1 0"]
    (tmp_path / "final_arc.txt").write_text("0 1 0\n")
    with pytest.raises(pipeline.PipelineError, match="no training command"):
        pipeline.final_stage_args(str(tmp_path))


def image_events(output_dir: pathlib.Path, tag: str) -> list[bytes]:
    """The PNG bytes of every TensorBoard image event `tag` (layout: [width, height, png])."""
    found = []
    for path in output_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    found.append(tf.make_ndarray(value.tensor)[2])
    return found


def _check_export(export_dir: pathlib.Path, arc: str, space: str) -> dict:
    loaded = tf.saved_model.load(str(export_dir))
    metadata = json.loads(loaded.signatures["metadata"]()["metadata_json"].numpy())
    assert metadata["space"] == space and metadata["arc"] == arc and metadata["finished"]
    return metadata


@pytest.mark.slow
def test_tiny_macro_pipeline_runs_every_stage_then_skips_them(tmp_path):
    data = tmp_path / "data"
    write_fake_cifar(data / "cifar-10-batches-py", images_per_file=24)
    out, models = tmp_path / "pipe", tmp_path / "models"
    result = run_pipeline(["macro", f"--data_path={data}", f"--output_dir={out}", f"--model_base={models}",
                           *TINY_MACRO])
    summary = json.loads((out / "pipeline.json").read_text())
    assert summary["published"] == str(models / "1") and export.is_export(str(models / "1"))
    arc = (out / "search" / "final_arc.txt").read_text().splitlines()[0]
    assert summary["derived_arc"] == arc and "test_accuracy" in summary["final_metrics"]
    assert arch.MacroArc.parse(arc, num_layers=3).num_layers == 3
    record = json.loads((out / "final" / "run.json").read_text())
    assert record["mode"] == "final" and record["arc"] == arc and record["model"]["num_layers"] == 3
    metadata = _check_export(out / "export", arc, "macro")
    assert metadata["final_metrics"] == summary["final_metrics"]
    loaded = tf.saved_model.load(str(out / "export"))
    probabilities = loaded.signatures["serving_default"](images=tf.zeros([2, 32, 32, 3], tf.uint8))["probabilities"]
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, rtol=1e-5)
    assert "[pipeline] search:" in result.stdout and "[pipeline] final:" in result.stdout
    assert summary["pictures"] == [str(out / "search" / "final_arc.png"), str(out / "final" / "arc.png")]
    for folder, tag in (("search", "arc/derived_picture"), ("final", "arc/final_picture")):
        images = image_events(out / folder, tag)
        assert len(images) == 1, f"{tag} missing from {folder}'s events"
        decoded = tf.io.decode_png(images[0]).numpy()
        np.testing.assert_array_equal(decoded, tf.io.decode_png((out / folder / pathlib.Path(
            summary["pictures"][0 if folder == "search" else 1]).name).read_bytes()).numpy())

    again = run_pipeline(["macro", f"--data_path={data}", f"--output_dir={out}", f"--model_base={models}",
                          *TINY_MACRO])
    for stage in ("search", "final", "export", "published"):
        assert f"[pipeline] {stage}: done" in again.stdout and "skipped" in again.stdout
    assert export.model_versions(str(models)) == [1]  # published once


@pytest.mark.slow
def test_tiny_ptb_pipeline_resumes_after_the_export_was_lost(tmp_path):
    data = write_fake_ptb(tmp_path / "ptb", vocab_size=40)
    out = tmp_path / "pipe"
    run_pipeline(["ptb", f"--data_path={data}", f"--output_dir={out}", *TINY_PTB])
    arc = (out / "search" / "final_arc.txt").read_text().splitlines()[0]
    original = arch.PtbArc.parse(arc).format("original")
    metadata = _check_export(out / "export", original, "ptb")
    assert metadata["vocab_size"] == 40 and "test_ppl" in metadata["final_metrics"]

    # A lost export is rebuilt from the finished final run without training again.
    for path in sorted((out / "export").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (out / "export").rmdir()
    again = run_pipeline(["ptb", f"--data_path={data}", f"--output_dir={out}", *TINY_PTB])
    assert "[pipeline] final: done" in again.stdout and "[pipeline] export\n" in again.stdout
    _check_export(out / "export", original, "ptb")


def test_pipeline_without_data_fails_with_the_stage_named(tmp_path):
    result = run_pipeline(["macro", f"--data_path={tmp_path / 'missing'}", f"--output_dir={tmp_path / 'o'}"],
                          check=False)
    assert result.returncode != 0
    assert "search stage failed" in result.stderr and "rerun the same" in result.stderr
