"""SavedModel export: parity in a clean process, metadata, the PTB stream protocol, and the errors.

Each test builds a "finished final run" folder directly (a network with random weights
and batch-norm statistics, its checkpoint, `run.json`, `final_metrics.json`), exports
it, and checks the export against the in-memory network. The parity check runs in a
separate `python -I` process in which `enas_tf2` cannot be imported, as a server would.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch, export, run_record
from enas_tf2.configs.image import ImageChildConfig
from enas_tf2.tasks.image_classification import build_child_network
from enas_tf2.errors import FlagError
from enas_tf2.spaces.rnn import PtbNetwork
from enas_tf2.train.weight_average import WeightAverage
from export_check import TOLERANCE, run_clean_check
from enas_tf2.train.state import RunState

MEAN = [0.49, 0.48, 0.45]
STD = [0.25, 0.24, 0.26]

def randomize_batch_norm(model: tf.keras.Model, seed: int = 0) -> None:
    """Non-trivial moving statistics, so inference-mode batch norm is really exercised."""
    rng = np.random.default_rng(seed)
    for variable in model.non_trainable_variables:
        name = variable.path if hasattr(variable, "path") else variable.name
        if "moving_mean" in name:
            variable.assign(rng.normal(0, 0.1, variable.shape).astype(np.float32))
        elif "moving_variance" in name:
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype(np.float32))


def write_cifar_run(output_dir: pathlib.Path, config: ImageChildConfig, finished: bool = True):
    """A final run folder with a checkpoint of `config`'s network; returns the network."""
    model = build_child_network(config)
    randomize_batch_norm(model)
    output_dir.mkdir(parents=True, exist_ok=True)
    state = RunState(str(output_dir), child=model)
    state.global_step.assign(7)
    state.save()
    run_record.write_run_record(
        str(output_dir),
        run_record.RunRecord(
            space=config.space, mode="final", arc=str(config.fixed_arc),
            model=config.to_record(), data={"mean": MEAN, "std": STD}, flags={"seed": 1},
        ),
    )
    if finished:
        run_record.write_final_metrics(str(output_dir), {"test_accuracy": 0.5})
    return model


def expected_probabilities(model, images: np.ndarray) -> np.ndarray:
    x = (images.astype(np.float32) / 255.0 - np.float32(MEAN)) / np.float32(STD)
    return tf.nn.softmax(model(tf.constant(x), training=False)).numpy()


MACRO_ARC = "0 1 0 4 1 1"
MICRO_ARC = "0 1 1 3 2 0 1 4 " + "1 0 0 2 0 2 1 1"


def macro_config() -> ImageChildConfig:
    return ImageChildConfig(
        space="macro", num_layers=3, out_filters=4, num_branches=6, keep_prob=0.9,
        fixed_arc=arch.MacroArc.parse(MACRO_ARC, num_layers=3),
    )


def micro_config() -> ImageChildConfig:
    return ImageChildConfig(
        space="micro", num_layers=2, out_filters=4, num_branches=5, keep_prob=0.9,
        fixed_arc=arch.MicroArc.parse(MICRO_ARC, num_blocks=2), num_blocks=2, use_aux_heads=True,
        drop_path_keep_prob=0.6, total_steps=10,
    )


@pytest.mark.parametrize("make_config", [macro_config, micro_config], ids=["macro", "micro"])
def test_cifar_export_matches_the_network_in_a_clean_process(make_config, tmp_path):
    config = make_config()
    model = write_cifar_run(tmp_path / "final", config)
    result = export.export_run(str(tmp_path / "final"), str(tmp_path / "export"))

    images = np.random.default_rng(1).integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    probabilities = expected_probabilities(model, images)
    report = run_clean_check(tmp_path / "export", {"images": images, "probabilities": probabilities}, tmp_path)
    assert report["max_diff"] <= TOLERANCE and report["float_diff"] <= TOLERANCE
    assert report["class_ids"] == probabilities.argmax(-1).tolist()
    assert report["signatures"] == ["classify_float", "metadata", "serving_default"]
    assert report["arc"] == str(config.fixed_arc)

    metadata = result.metadata
    assert metadata["space"] == config.space and metadata["final_metrics"] == {"test_accuracy": 0.5}
    assert metadata["parameter_count"] == export.count_params(export.served_variables(model))
    assert metadata["tensorflow_version"] == tf.__version__ and metadata["global_step"] == 7
    assert metadata["normalization"]["mean"] == MEAN
    assert not (tmp_path / "export.partial").exists()


def test_micro_parameter_count_leaves_out_the_training_only_aux_head(tmp_path):
    model = write_cifar_run(tmp_path / "final", micro_config())
    metadata = export.export_run(str(tmp_path / "final"), str(tmp_path / "export")).metadata
    aux = export.count_params(model.aux_head.trainable_variables)
    assert aux > 0
    assert metadata["parameter_count"] == export.count_params(model.trainable_variables) - aux


VOCAB = ["<eos>", "<unk>", "the", "cat", "sat", "on", "a", "mat", "dog", "ran", "fast", "home"]


def write_ptb_run(output_dir: pathlib.Path, arc: str, ptb_impl: str = "enas_lm", average: bool = False):
    """A finished PTB final run; with `average`, a started weight average that differs from the weights."""
    model = PtbNetwork(arc, vocab_size=len(VOCAB), hidden_size=6, ptb_impl=ptb_impl, name="child")
    model.build()
    trackables = {"child": model}
    averaged = None
    if average:
        weight_average = WeightAverage(model.trainable_variables)
        rng = np.random.default_rng(3)
        for variable in model.trainable_variables:  # two "steps" of different weights
            variable.assign(rng.normal(0, 0.3, variable.shape).astype(np.float32))
            weight_average.update()
        weight_average.start()
        averaged = [a.numpy() for a in weight_average.averages]
        trackables["weight_average"] = weight_average
    output_dir.mkdir(parents=True, exist_ok=True)
    RunState(str(output_dir), **trackables).save()
    run_record.write_vocabulary(str(output_dir), VOCAB)
    run_record.write_run_record(
        str(output_dir),
        run_record.RunRecord(space="ptb", mode="final", arc=model.fixed_arc.format("original"),
                             model=model.get_config(), data={"vocab_size": len(VOCAB)}, flags={}),
    )
    run_record.write_final_metrics(str(output_dir), {"valid_ppl": 11.0, "test_ppl": 10.5})
    if averaged is not None:
        for variable, value in zip(model.trainable_variables, averaged):
            variable.assign(value)
    return model


@pytest.mark.parametrize(
    "ptb_impl, arc, average",
    [("enas_lm", "0 2 1 0 2 1", True), ("original", "0 0 0 1 1 2 0", False)],
    ids=["enas_lm_averaged", "original"],
)
def test_ptb_export_scores_streams_like_the_network(ptb_impl, arc, average, tmp_path):
    model = write_ptb_run(tmp_path / "final", arc, ptb_impl, average)
    result = export.export_run(str(tmp_path / "final"), str(tmp_path / "export"))
    assert result.metadata["weights"] == ("averaged" if average else "last")

    ids = np.random.default_rng(0).integers(0, len(VOCAB), size=(3, 9)).astype(np.int64)
    logits, state = model(tf.constant(ids, tf.int32), model.initial_state(3), training=False)
    expected = {
        "token_ids": ids,
        "log_probs": tf.nn.log_softmax(logits).numpy(),
        "state": state.numpy(),
        "words": np.array([b"the", b"zebra", b"<eos>"]),
    }
    report = run_clean_check(tmp_path / "export", expected, tmp_path)
    assert report["max_diff"] <= TOLERANCE and report["state_diff"] <= TOLERANCE
    assert report["window_diff"] <= TOLERANCE
    assert report["token_ids"] == [[2, 1, 0]]  # an unknown word maps to <unk>
    assert report["signatures"] == ["initial_state", "metadata", "serving_default", "tokenize"]
    assert (tmp_path / "export" / "assets" / "vocab.txt").read_text().split() == VOCAB
    assert result.metadata["arc"] == arch.PtbArc.parse(arc).format("original")
    assert result.metadata["vocab_size"] == len(VOCAB) and result.metadata["ptb_impl"] == ptb_impl


def test_search_run_is_a_clear_error_that_points_to_the_derived_arc(tmp_path):
    out = tmp_path / "search"
    out.mkdir()
    run_record.write_run_record(str(out), run_record.RunRecord("macro", "search", None, {}, {}, {}))
    (out / run_record.FINAL_ARC_FILE).write_text("0 1 0\n# train it with ...\n")
    with pytest.raises(export.ExportError, match="search run.*final_arc.txt.*pipeline.sh macro"):
        export.export_run(str(out), str(tmp_path / "export"))


def test_folder_without_a_run_record_is_a_clear_error(tmp_path):
    with pytest.raises(run_record.RunRecordError, match="no run.json"):
        export.export_run(str(tmp_path), str(tmp_path / "export"))
    with pytest.raises(run_record.RunRecordError, match="not a folder"):
        export.export_run(str(tmp_path / "missing"), str(tmp_path / "export"))
    with pytest.raises(FlagError, match="--export_dir is required"):
        export.export_run(str(tmp_path), "")


def test_final_run_without_checkpoint_or_unfinished(tmp_path):
    out = tmp_path / "final"
    out.mkdir()
    config = macro_config()
    run_record.write_run_record(
        str(out), run_record.RunRecord("macro", "final", MACRO_ARC, config.to_record(),
                                       {"mean": MEAN, "std": STD}, {}),
    )
    with pytest.raises(export.ExportError, match="no checkpoint yet"):
        export.export_run(str(out), str(tmp_path / "export"))

    write_cifar_run(tmp_path / "unfinished", config, finished=False)
    with pytest.raises(export.ExportError, match="has not finished.*--allow_unfinished"):
        export.export_run(str(tmp_path / "unfinished"), str(tmp_path / "export"))
    result = export.export_run(str(tmp_path / "unfinished"), str(tmp_path / "export"), allow_unfinished=True)
    assert result.metadata["finished"] is False and result.metadata["final_metrics"] is None


def test_existing_export_dir_needs_overwrite_and_other_folders_are_never_replaced(tmp_path):
    write_cifar_run(tmp_path / "final", macro_config())
    export.export_run(str(tmp_path / "final"), str(tmp_path / "export"))
    with pytest.raises(export.ExportError, match="--overwrite"):
        export.export_run(str(tmp_path / "final"), str(tmp_path / "export"))
    export.export_run(str(tmp_path / "final"), str(tmp_path / "export"), overwrite=True)
    assert export.is_export(str(tmp_path / "export"))

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(export.ExportError, match="not an enas_tf2 export"):
        export.export_run(str(tmp_path / "final"), str(precious), overwrite=True)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_run_record_round_trip_and_errors(tmp_path):
    record = run_record.RunRecord("ptb", "final", "0 0 0", {"hidden_size": 4}, {"vocab_size": 3},
                                  {"seed": None, "ratios": (1, 2), "path": pathlib.Path("x")})
    run_record.write_run_record(str(tmp_path), record)
    back = run_record.read_run_record(str(tmp_path))
    assert back.space == "ptb" and back.arc == "0 0 0" and back.model == {"hidden_size": 4}
    assert back.flags == {"path": "x", "ratios": [1, 2], "seed": None}
    (tmp_path / run_record.RUN_FILE).write_text("{not json")
    with pytest.raises(run_record.RunRecordError, match="Cannot read"):
        run_record.read_run_record(str(tmp_path))
    (tmp_path / run_record.RUN_FILE).write_text(json.dumps({"format": 99}))
    with pytest.raises(run_record.RunRecordError, match="Upgrade enas_tf2"):
        run_record.read_run_record(str(tmp_path))
    with pytest.raises(run_record.RunRecordError, match="Unknown space"):
        run_record.RunRecord("imagenet", "final", None, {}, {}, {})


def _pipeline_roots() -> list[str]:
    value = os.environ.get("ENAS_EXPORT_RUNS", "")
    return [root for root in value.split(os.pathsep) if root]


@pytest.mark.skipif(
    not _pipeline_roots(),
    reason="set ENAS_EXPORT_RUNS to pipeline output folders (separated by ':') to check their real exports",
)
@pytest.mark.parametrize("root", _pipeline_roots() or ["none"])
def test_pipeline_exports_match_their_final_networks_in_a_clean_process(root, tmp_path):
    """The parity check on the exports of real pipeline runs (scripts/pipeline.sh ... --output_dir=root)."""
    final_dir, export_dir = pathlib.Path(root) / "final", pathlib.Path(root) / "export"
    record = run_record.read_run_record(str(final_dir))
    model = export.build_fixed_child(record)
    export.restore_weights(model, tf.train.latest_checkpoint(str(final_dir / "checkpoints")))
    rng = np.random.default_rng(0)
    if record.space == "ptb":
        words = run_record.read_vocabulary(str(final_dir))
        ids = rng.integers(0, len(words), size=(2, 20)).astype(np.int64)
        logits, state = model(tf.constant(ids, tf.int32), model.initial_state(2), training=False)
        expected = {"token_ids": ids, "log_probs": tf.nn.log_softmax(logits).numpy(), "state": state.numpy(),
                    "words": np.array([w.encode() for w in words[:3]])}
    else:
        images = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
        x = (images / np.float32(255.0) - np.float32(record.data["mean"])) / np.float32(record.data["std"])
        probabilities = tf.nn.softmax(model(tf.constant(x, tf.float32), training=False)).numpy()
        expected = {"images": images, "probabilities": probabilities}
    report = run_clean_check(export_dir, expected, tmp_path)
    assert report["max_diff"] <= TOLERANCE, report
    if record.space == "ptb":
        assert report["window_diff"] <= TOLERANCE and report["token_ids"] == [[0, 1, 2]], report
    print(f"{root}: {report}")
