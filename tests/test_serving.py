"""Publishing for TensorFlow Serving: `BASE/<version>/saved_model.pb`, next version, never overwritten.

The layout is read back the way a server operator would, with TensorFlow's own `saved_model_cli`
(`show --all`, then `run` on a batch of images) in a clean process.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from runs import run_module
from test_export import VOCAB, expected_probabilities, macro_config, write_cifar_run, write_ptb_run

from enas_tf2 import export


def test_versions_count_up_ignore_other_entries_and_are_never_replaced(tmp_path):
    run_dir, base = tmp_path / "run", tmp_path / "models" / "enas"
    write_cifar_run(run_dir, macro_config())
    assert export.next_version_dir(str(base)) == str(base / "1")
    first = export.publish_run(str(run_dir), str(base))
    assert first.export_dir == str(base / "1") and (base / "1" / "saved_model.pb").is_file()
    before = {p.name: p.stat().st_mtime_ns for p in (base / "1").rglob("*")}
    (base / "2.partial").mkdir()  # a publish that was killed: not a version, reused by the next one
    (base / "README").write_text("not a version")
    second = export.publish_run(str(run_dir), str(base))
    assert second.export_dir == str(base / "2") and not (base / "2.partial").exists()
    third = export.publish_export(str(base / "2"), str(base))
    assert third == str(base / "3") and export.is_export(third)
    assert export.model_versions(str(base)) == [1, 2, 3]
    assert {p.name: p.stat().st_mtime_ns for p in (base / "1").rglob("*")} == before  # version 1 untouched
    (tmp_path / "file").write_text("x")
    with pytest.raises(export.ExportError, match="is a file"):
        export.publish_run(str(run_dir), str(tmp_path / "file"))
    with pytest.raises(export.ExportError, match="no enas_tf2 export"):
        export.publish_export(str(run_dir), str(base))


def _saved_model_cli(args: list[str]) -> subprocess.CompletedProcess:
    """TensorFlow's `saved_model_cli` (installed beside this interpreter) in a clean process."""
    cli = pathlib.Path(sys.executable).parent / "saved_model_cli"
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_the_export_cli_publishes_versions_that_saved_model_cli_reads_and_runs(tmp_path):
    run_dir, base = tmp_path / "run", tmp_path / "models"
    model = write_cifar_run(run_dir, macro_config())
    for version in (1, 2):
        out = run_module("export", [f"--output_dir={run_dir}", f"--model_base={base}"]).stdout
        assert f'"export_dir": "{base / str(version)}"' in out
    both = run_module("export", [f"--output_dir={run_dir}", f"--model_base={base}", f"--export_dir={tmp_path / 'x'}"],
                      check=False)
    assert both.returncode != 0 and "not both" in both.stderr
    assert export.model_versions(str(base)) == [1, 2]

    shown = _saved_model_cli(["show", "--dir", str(base / "2"), "--all"]).stdout
    for text in ("signature_def['serving_default']", "inputs['images']", "dtype: DT_UINT8", "(-1, 32, 32, 3)",
                 "outputs['probabilities']", "outputs['class_ids']", "signature_def['metadata']"):
        assert text in shown, (text, shown)
    images = np.random.default_rng(3).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    outdir = tmp_path / "outputs"
    _saved_model_cli(["run", "--dir", str(base / "2"), "--tag_set", "serve", "--signature_def", "serving_default",
                      "--inputs", f"images={tmp_path / 'images.npy'}", "--outdir", str(outdir)])
    want = expected_probabilities(model, images)
    np.testing.assert_allclose(np.load(outdir / "probabilities.npy"), want, atol=1e-5)
    np.testing.assert_array_equal(np.load(outdir / "class_ids.npy"), want.argmax(axis=1))


def test_a_published_ptb_scorer_runs_in_saved_model_cli_with_its_vocabulary_table(tmp_path):
    """The PTB export's lookup table and carried state work in the TF1-style loader TensorFlow Serving uses."""
    model = write_ptb_run(tmp_path / "final", "0 2 1 0 2 1")
    version = export.publish_run(str(tmp_path / "final"), str(tmp_path / "models")).export_dir
    ids = np.random.default_rng(0).integers(0, len(VOCAB), size=(2, 5)).astype(np.int64)
    state = np.zeros((2, 6), np.float32)
    np.save(tmp_path / "ids.npy", ids)
    np.save(tmp_path / "state.npy", state)
    outdir = tmp_path / "outputs"
    _saved_model_cli(["run", "--dir", version, "--tag_set", "serve", "--signature_def", "serving_default",
                      "--inputs", f"token_ids={tmp_path / 'ids.npy'};state={tmp_path / 'state.npy'}",
                      "--outdir", str(outdir)])
    logits, new_state = model(tf.constant(ids, tf.int32), tf.constant(state), training=False)
    np.testing.assert_allclose(np.load(outdir / "log_probs.npy"), tf.nn.log_softmax(logits).numpy(), atol=1e-5)
    np.testing.assert_allclose(np.load(outdir / "state.npy"), new_state.numpy(), atol=1e-5)
    words = tmp_path / "words.npy"
    np.save(words, np.array([["the", "zebra"]], dtype=object), allow_pickle=True)
    _saved_model_cli(["run", "--dir", version, "--tag_set", "serve", "--signature_def", "tokenize",
                      "--inputs", f"words={words}", "--outdir", str(tmp_path / "tokens")])
    assert np.load(tmp_path / "tokens" / "token_ids.npy").tolist() == [[VOCAB.index("the"), VOCAB.index("<unk>")]]
