"""SavedModel export of a trained final network: `python -m enas_tf2.export --output_dir=<run> --export_dir=<dir>`.

The run folder says what it holds (`run.json`, `enas_tf2/run_record.py`), so
export rebuilds the fixed network from the record, restores only its weights
from the newest checkpoint (PTB: the averaged weights when enas_lm's averaging
started, as its evaluation uses them), wraps it in the serving module of its
space (`enas_tf2/serving.py`) and writes a SavedModel that needs neither this
project nor its flags:

* images: `serving_default(images uint8 [N,H,W,C]) -> probabilities, class_ids` at the size
  the network was trained on (32x32x3 for CIFAR-10), `classify_float` (float images on the same
  0..255 scale), `metadata` (with the class names);
* PTB: `serving_default` = `score(token_ids int64 [N,T], state [N,H]) -> log_probs, state`,
  `initial_state(batch_size)`, `tokenize(words)`, `metadata`; the vocabulary is an asset.

The metadata (space, arc in the original encoding, parameter count, final
metrics, versions) is also written as `assets.extra/enas_metadata.json`. The
export is assembled in `<export_dir>.partial` and renamed into place, so a killed
export never leaves a half-written model at `export_dir`. Final runs given
`--export_dir` call `export_run` when training ends.

Serving: `--model_base=BASE` publishes into a model base folder laid out as TensorFlow Serving
reads it, `BASE/<version>/saved_model.pb`, with the next integer version (`publish_run`,
`publish_export`). A published version is never overwritten, and it appears under its number
only once complete (assembled as `BASE/<version>.partial`, a name Serving ignores), so a server
watching BASE picks up each new model as it lands.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
from typing import Any

from enas_tf2 import startup

startup.import_tensorflow_quietly()  # `python -m enas_tf2.export`: before TensorFlow loads below

import keras  # noqa: E402  pylint: disable=wrong-import-position
import tensorflow as tf  # noqa: E402  pylint: disable=wrong-import-position
from absl import app, flags, logging  # noqa: E402  pylint: disable=wrong-import-position

import enas_tf2
from enas_tf2 import arch, run_record
from enas_tf2.configs.image import ImageChildConfig
from enas_tf2.data.cifar10 import CIFAR10_CLASS_NAMES
from enas_tf2.errors import EnasError, FlagError
from enas_tf2.serving import ImageClassifier, PtbScorer, track_function_variables
from enas_tf2.spaces.rnn import PtbNetwork
from enas_tf2.train.weight_average import WeightAverage
from enas_tf2.tasks.base import count_params
from enas_tf2.tasks.image_classification import build_child_network
from enas_tf2.train.state import CHECKPOINT_SUBDIR, with_all_weights

METADATA_FILE = "enas_metadata.json"
#: Extra files beside a SavedModel that its graph does not load (the TF Serving convention).
EXTRA_ASSETS_DIR = "assets.extra"
METADATA_FORMAT = 1


class ExportError(EnasError):
    """The run cannot be exported (not a final run, no weights, an existing export)."""


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What `export_run` wrote: the folder and the metadata it embedded."""

    export_dir: str
    metadata: dict[str, Any]


def build_fixed_child(record: run_record.RunRecord) -> keras.Model:
    """Rebuilds a final run's network from its record (weights freshly initialised)."""
    if record.space == "ptb":
        model = PtbNetwork.from_config(dict(record.model))
        model.build()
        return model
    return build_child_network(ImageChildConfig.from_record(record.model))


def served_variables(model: keras.Model) -> list:
    """The weights the served network uses (a micro network's auxiliary head is training-only)."""
    return list(getattr(model, "optimized_variables", model.trainable_variables))


def _check_exportable(output_dir: str, record: run_record.RunRecord, allow_unfinished: bool) -> str:
    """The newest checkpoint of a final run, or an ExportError that says what to do."""
    if record.mode == "search":
        arc = run_record.read_final_arc(output_dir)
        hint = (
            f"train its derived architecture first: the command is in {os.path.join(output_dir, run_record.FINAL_ARC_FILE)}"
            if arc
            else "let the search finish and derive an architecture (final_arc.txt)"
        )
        raise ExportError(
            f"{output_dir} is a search run: its supernet is not a deployable network. To export, {hint}, then "
            f"export that final run's --output_dir (or run scripts/pipeline.sh {record.space}, which does all three)."
        )
    latest = tf.train.latest_checkpoint(os.path.join(output_dir, CHECKPOINT_SUBDIR))
    if latest is None:
        raise ExportError(
            f"{output_dir} has no checkpoint yet: the final run has not trained. Run (or resume) it with the same "
            "command, then export."
        )
    if run_record.read_final_metrics(output_dir) is None and not allow_unfinished:
        raise ExportError(
            f"{output_dir} has not finished training (no {run_record.FINAL_METRICS_FILE}). Resume the run with the "
            f"same command to finish it, or pass --allow_unfinished to export its newest checkpoint ({latest})."
        )
    return latest


def restore_weights(model: keras.Model, checkpoint_path: str) -> str:
    """Loads a run checkpoint's network weights into `model` (nothing else of the run).

    When the run kept an enas_lm weight average that has started, the averages are loaded,
    because that run evaluated (and reported its metrics) with them. Returns "averaged" or
    "last": which weights were loaded.
    """
    trackables: dict[str, Any] = {"child": model}
    names = {name for name, _ in tf.train.list_variables(checkpoint_path)}
    average = None
    if any(name.startswith("weight_average/") for name in names):
        average = WeightAverage(model.trainable_variables)
        trackables["weight_average"] = average
    status = tf.train.Checkpoint(**with_all_weights(trackables)).restore(checkpoint_path)
    # Only the network (and its average) are wanted: optimizer slots, controller and counters stay unread.
    status.assert_existing_objects_matched().expect_partial()
    if average is not None and bool(average.started.numpy()):
        for variable, averaged in zip(model.trainable_variables, average.averages):
            variable.assign(averaged)
        return "averaged"
    return "last"


def _global_step(checkpoint_path: str) -> int | None:
    try:
        return int(tf.train.load_variable(checkpoint_path, "global_step/.ATTRIBUTES/VARIABLE_VALUE"))
    except (tf.errors.NotFoundError, ValueError):
        return None


def _metadata(
    record: run_record.RunRecord, model: keras.Model, output_dir: str, checkpoint_path: str, weights: str
) -> dict[str, Any]:
    final_metrics = run_record.read_final_metrics(output_dir)
    metadata: dict[str, Any] = {
        "format": METADATA_FORMAT,
        "space": record.space,
        "arc": record.arc,
        "arc_encoding": "original",
        "parameter_count": count_params(served_variables(model)),
        "final_metrics": final_metrics,
        "finished": final_metrics is not None,
        "global_step": _global_step(checkpoint_path),
        "checkpoint": os.path.basename(checkpoint_path),
        "weights": weights,
        "enas_tf2_version": enas_tf2.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": record.model,
    }
    if record.space == "ptb":
        parsed = arch.PtbArc.parse(record.arc)
        metadata.update(
            arc_enas_lm=parsed.format("enas_lm") if record.model.get("ptb_impl") == "enas_lm" else None,
            vocab_size=int(model.vocab_size),
            hidden_size=int(model.hidden_size),
            ptb_impl=record.model.get("ptb_impl"),
            signatures={
                "serving_default": "score: token_ids int64 [N,T], state float32 [N,H] -> log_probs [N,T,V] "
                "(position t predicts token t+1), state [N,H]",
                "initial_state": "batch_size int32 [] -> state float32 [N,H] (zeros)",
                "tokenize": "words string [N,T] -> token_ids int64 [N,T] (unknown words -> <unk>)",
                "metadata": "-> metadata_json string",
            },
        )
    else:
        height, width, channels = _image_shape(record)
        class_names = _class_names(record)
        shape = f"[N,{height},{width},{channels}]"
        metadata.update(
            normalization={"mean": record.data["mean"], "std": record.data["std"], "scale": "[0, 1]"},
            class_names=list(class_names),
            image_shape=[height, width, channels],
            signatures={
                "serving_default": f"images uint8 {shape} -> probabilities float32 [N,{len(class_names)}], "
                "class_ids int64 [N]",
                "classify_float": f"images float32 {shape} on the 0..255 scale -> the same",
                "metadata": "-> metadata_json string",
            },
        )
    return metadata


def serving_module(record: run_record.RunRecord, model: keras.Model, output_dir: str, metadata_json: str) -> tf.Module:
    """The space's serving module around a restored network."""
    if record.space == "ptb":
        words = run_record.read_vocabulary(output_dir)
        return PtbScorer(model, os.path.join(output_dir, run_record.VOCAB_FILE), words, metadata_json)
    return ImageClassifier(model, record.data["mean"], record.data["std"], _image_shape(record), _class_names(record),
                           metadata_json)


def _image_shape(record: run_record.RunRecord) -> tuple[int, int, int]:
    """The image shape the network was trained on (records before it was recorded: CIFAR-10's)."""
    return tuple(int(d) for d in record.data.get("image_shape", (32, 32, 3)))


def _class_names(record: run_record.RunRecord) -> tuple[str, ...]:
    """The class of each output (records before they were recorded: CIFAR-10's)."""
    return tuple(record.data.get("class_names", CIFAR10_CLASS_NAMES))


def is_export(path: str) -> bool:
    """Whether `path` holds an enas_tf2 export (a SavedModel with its metadata file)."""
    return os.path.isfile(os.path.join(path, "saved_model.pb")) and os.path.isfile(
        os.path.join(path, EXTRA_ASSETS_DIR, METADATA_FILE)
    )


def _check_export_dir(export_dir: str, overwrite: bool) -> None:
    """An existing `export_dir` may be replaced only if it is an enas_tf2 export (or empty) and `overwrite`."""
    if not os.path.exists(export_dir):
        return
    if not os.path.isdir(export_dir):
        raise ExportError(f"--export_dir={export_dir} is a file; give a folder path.")
    replaceable = is_export(export_dir) or not os.listdir(export_dir)
    if not replaceable:
        raise ExportError(
            f"--export_dir={export_dir} exists and is not an enas_tf2 export; it is left untouched. Choose another "
            "--export_dir."
        )
    if not overwrite:
        raise ExportError(f"{export_dir} holds an export already; remove it, choose another --export_dir or pass "
                          "--overwrite.")


def export_run(output_dir: str, export_dir: str, allow_unfinished: bool = False, overwrite: bool = False) -> ExportResult:
    """Exports the final run in `output_dir` as a SavedModel in `export_dir`.

    Args:
        output_dir: the final run's `--output_dir`.
        export_dir: where the SavedModel goes (created; must not exist unless `overwrite`).
        allow_unfinished: export the newest checkpoint of a run that has not finished.
        overwrite: replace an existing enas_tf2 export (never another kind of folder).

    Raises:
        RunRecordError: `output_dir` is not an enas_tf2 run.
        ExportError: a search run, no checkpoint, an unfinished run, or an existing `export_dir`.
    """
    if not export_dir:
        raise FlagError("--export_dir is required: give the folder the SavedModel should be written to (or "
                        "--model_base for the next version of a TensorFlow Serving model base).")
    record = run_record.read_run_record(output_dir)
    checkpoint_path = _check_exportable(output_dir, record, allow_unfinished)
    _check_export_dir(export_dir, overwrite)
    model = build_fixed_child(record)
    weights = restore_weights(model, checkpoint_path)
    metadata = _metadata(record, model, output_dir, checkpoint_path, weights)
    metadata_json = json.dumps(metadata, indent=2, sort_keys=True)
    module = serving_module(record, model, output_dir, metadata_json)

    partial_dir = export_dir.rstrip("/") + ".partial"
    shutil.rmtree(partial_dir, ignore_errors=True)
    signatures = module.signatures()
    track_function_variables(module, signatures.values())
    tf.saved_model.save(module, partial_dir, signatures=signatures)
    os.makedirs(os.path.join(partial_dir, EXTRA_ASSETS_DIR), exist_ok=True)
    run_record.write_text_atomically(os.path.join(partial_dir, EXTRA_ASSETS_DIR, METADATA_FILE), metadata_json + "\n")
    if os.path.exists(export_dir):
        shutil.rmtree(export_dir)
    os.replace(partial_dir, export_dir)
    logging.info("Exported %s (%s, arc %s, %d parameters, %s weights) to %s", output_dir, record.space, record.arc,
                 metadata["parameter_count"], weights, export_dir)
    return ExportResult(export_dir, metadata)


def model_versions(model_base: str) -> list[int]:
    """The versions published in `model_base` (its integer-named folders), in order."""
    if not os.path.isdir(model_base):
        return []
    return sorted(int(name) for name in os.listdir(model_base)
                  if name.isdigit() and os.path.isdir(os.path.join(model_base, name)))


def next_version_dir(model_base: str) -> str:
    """`model_base/<the next integer version>` (1 in a new base); creates `model_base`.

    Raises:
        ExportError: `model_base` is a file.
    """
    if os.path.exists(model_base) and not os.path.isdir(model_base):
        raise ExportError(f"--model_base={model_base} is a file; give a folder (TensorFlow Serving's model base path).")
    os.makedirs(model_base, exist_ok=True)
    versions = model_versions(model_base)
    return os.path.join(model_base, str(versions[-1] + 1 if versions else 1))


def publish_run(output_dir: str, model_base: str, allow_unfinished: bool = False) -> ExportResult:
    """Exports the final run in `output_dir` as the next version in the serving base `model_base`."""
    return export_run(output_dir, next_version_dir(model_base), allow_unfinished=allow_unfinished)


def publish_export(export_dir: str, model_base: str) -> str:
    """Copies an existing export into `model_base` as its next version; returns the version folder.

    Raises:
        ExportError: `export_dir` holds no enas_tf2 export, or the version appeared meanwhile.
    """
    if not is_export(export_dir):
        raise ExportError(f"{export_dir} holds no enas_tf2 export to publish; export the final run first.")
    version_dir = next_version_dir(model_base)
    partial_dir = version_dir + ".partial"
    shutil.rmtree(partial_dir, ignore_errors=True)
    shutil.copytree(export_dir, partial_dir)
    if os.path.exists(version_dir):  # another publisher took this number meanwhile: never replace it
        shutil.rmtree(partial_dir)
        raise ExportError(f"{version_dir} appeared while publishing; rerun to publish as the next version.")
    os.rename(partial_dir, version_dir)
    logging.info("Published %s as version %s of %s", export_dir, os.path.basename(version_dir), model_base)
    return version_dir


def define_export_flags() -> None:
    if "export_dir" in flags.FLAGS:
        return
    flags.DEFINE_string("output_dir", "", "The --output_dir of a finished final run.")
    flags.DEFINE_string("export_dir", "", "Where to write the SavedModel (or give --model_base).")
    flags.DEFINE_string("model_base", "", "Publish as the next version of this TensorFlow Serving model base folder: "
                        "MODEL_BASE/<version>/saved_model.pb (1, 2, ...; an existing version is never replaced).")
    flags.DEFINE_boolean("allow_unfinished", False, "Export the newest checkpoint of a final run that has not finished.")
    flags.DEFINE_boolean("overwrite", False, "Replace an existing export at --export_dir.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise FlagError(f"Unexpected positional arguments: {argv[1:]}. Every setting is a --flag.")
    values = flags.FLAGS
    try:
        if not values.output_dir:
            raise FlagError("--output_dir is required: the folder of the final run to export.")
        if values.model_base and values.export_dir:
            raise FlagError("Give --export_dir (one SavedModel folder) or --model_base (the next version of a serving "
                            "model base), not both.")
        if values.model_base:
            if values.overwrite:
                raise FlagError("--overwrite does not apply to --model_base: a published version is never replaced.")
            result = publish_run(values.output_dir, values.model_base, values.allow_unfinished)
        else:
            result = export_run(values.output_dir, values.export_dir, values.allow_unfinished, values.overwrite)
    except EnasError as error:
        logging.error("%s: %s", type(error).__name__, error)
        raise SystemExit(f"error: {error}") from None
    summary = {key: result.metadata[key] for key in ("space", "arc", "parameter_count", "final_metrics")}
    print(json.dumps({"export_dir": result.export_dir, **summary}, indent=2))


if __name__ == "__main__":
    define_export_flags()
    app.run(main)
