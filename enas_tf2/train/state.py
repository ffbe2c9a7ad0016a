"""Checkpointing and resuming of everything a run needs to continue exactly.

One `tf.train.Checkpoint` holds the child, the controller, both optimizers, the baseline,
the `tf.random.Generator` states, the input streams' positions (`data.streams`) and the run's
position: completed epochs, the global step, the steps done in the current epoch, the stage
of the epoch (child steps, the end-of-epoch hooks, evaluation) and the steps done in that
stage. A checkpoint taken anywhere (between two child steps, two controller updates, or
before an evaluation) therefore resumes to the same computation, bit for bit on CPU.

Checkpoints live in `<output_dir>/checkpoints` as `ckpt-<n>` (n counts the saves; the step is
inside) under a `tf.train.CheckpointManager`, which writes a checkpoint's files before it
updates its index file (atomically), so a process killed mid-save leaves the previous
checkpoint intact. Resuming does not trust that index: it lists the checkpoint files
themselves, newest first, and restores the first one that reads. A damaged newer one (an
`.index` or `.data` file missing or truncated) is named in a warning and moved into
`checkpoints/damaged/`, never deleted and never counted against `--keep_checkpoints`; if none
reads, the run stops instead of starting over.

Keras 3 keeps sublayers held in Python lists and dicts in its own containers, which
`tf.train.Checkpoint` does not walk (keras-team/keras#18398, back with Keras 3.15 / TF 2.21):
a checkpoint of a model alone would miss every weight of its layer lists (the optimizer
happens to save the trainable ones, but batch-norm statistics and seed states would be lost).
`with_all_weights` therefore adds each Keras object's full `variables` list, in its
deterministic creation order, next to the object itself.
"""

from __future__ import annotations

import enum
import os
import re
import shutil
import time
from typing import Any

import keras
import tensorflow as tf
from absl import logging
from tensorflow.python.checkpoint import checkpoint_management  # the manager's index, with timestamps

from enas_tf2.errors import FlagError, TrainingError

CHECKPOINT_SUBDIR = "checkpoints"
#: Where unreadable checkpoints are moved (kept for inspection, out of the manager's count).
DAMAGED_SUBDIR = "damaged"
_CHECKPOINT_FILE = re.compile(r"^(ckpt-(\d+))\.(index|data-\d+-of-\d+)$")


class Stage(enum.IntEnum):
    """Where in an epoch a run is: what a resumed run does first."""

    #: Child steps of the current epoch (`step_in_epoch` of them done).
    CHILD = 0
    #: The epoch's child steps are done; the end-of-epoch hooks run (a search's controller
    #: phase, `stage_step` updates done).
    HOOKS = 1
    #: Hooks done; the evaluation and the end-of-epoch checkpoint come next.
    EVALUATION = 2


class CheckpointMismatchError(FlagError):
    """A checkpoint that does not fit the network the flags build (the flags changed)."""


def prepare_output_dir(output_dir: str, reset: bool, keep: tuple[str, ...] = ()) -> None:
    """Creates `output_dir`; with `reset`, empties it first (the original's `--reset_output_dir`).

    Args:
        output_dir: the run folder.
        reset: delete what it holds.
        keep: names in the folder that a reset leaves (the run's lock).

    Raises:
        FlagError: if `output_dir` is empty, is a file, or lies under a file.
    """
    check_output_dir(output_dir)
    if reset and os.path.isdir(output_dir):
        logging.info("Deleting the contents of %s (--reset_output_dir)", output_dir)
        for name in os.listdir(output_dir):
            if name in keep:
                continue
            path = os.path.join(output_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise FlagError(f"--output_dir={output_dir} cannot be created ({error.strerror}); give a folder path you "
                        "can write to.") from None


def check_output_dir(output_dir: str) -> None:
    """Raises `FlagError` unless `output_dir` is a usable folder path (it may not exist yet)."""
    if not output_dir:
        raise FlagError("--output_dir is required: give a folder for checkpoints, logs and TensorBoard events.")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise FlagError(f"--output_dir={output_dir} exists and is not a folder; give a folder path.")
    parent = os.path.dirname(os.path.abspath(output_dir))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise FlagError(f"--output_dir={output_dir} lies under {parent}, which is a file; give a folder path.")


#: Suffix of the entry that holds a Keras object's full variable list.
ALL_WEIGHTS_SUFFIX = "_all_weights"


def with_all_weights(trackables: dict[str, Any]) -> dict[str, Any]:
    """`trackables` plus, for each Keras layer or model, `<name>_all_weights`: its `variables` list."""
    items = dict(trackables)
    for name, value in trackables.items():
        if isinstance(value, keras.layers.Layer):
            items[name + ALL_WEIGHTS_SUFFIX] = list(value.variables)
    return items


def list_checkpoints(directory: str) -> list[tuple[int, str, bool]]:
    """Every checkpoint whose files are in `directory`, newest first: `(number, prefix, complete)`.

    `complete` says that both its `.index` and at least one `.data` file are there (readable or
    not); the manager's own index file is not consulted, since it may be damaged too.
    """
    if not os.path.isdir(directory):
        return []
    found: dict[int, set[str]] = {}
    for name in os.listdir(directory):
        match = _CHECKPOINT_FILE.match(name)
        if match:
            found.setdefault(int(match.group(2)), set()).add("index" if match.group(3) == "index" else "data")
    return [(number, os.path.join(directory, f"ckpt-{number}"), kinds == {"index", "data"})
            for number, kinds in sorted(found.items(), reverse=True)]


def _is_mismatch(error: Exception) -> bool:
    """The checkpoint is readable but holds other networks or optimizers (the flags changed), not damage.

    A shape that differs (`ValueError`), a dtype that differs (`InvalidArgumentError` "expected dtype",
    e.g. a loss-scale counter where another optimizer kept a float), or objects the checkpoint does not
    have (`AssertionError` of `assert_existing_objects_matched`, e.g. a LossScaleOptimizer resuming a
    plain one's checkpoint).
    """
    text = str(error).lower()
    if isinstance(error, ValueError):
        return "shape" in text or "incompatible" in text
    if isinstance(error, tf.errors.InvalidArgumentError):
        return "expected dtype" in text
    return isinstance(error, AssertionError)


class RunState:
    """Position, counters and checkpoints of one run (search or final).

    Args:
        output_dir: the run's folder; checkpoints go to `output_dir/checkpoints`.
        max_to_keep: newest checkpoints kept (`--keep_checkpoints`; the original kept 2 for CIFAR).
        restore_dir: the run folder to resume from, if not `output_dir` (a non-chief
            worker saves into its own temporary folder and resumes from the chief's).
        **trackables: everything else to save (models, optimizers, variables,
            generators, streams), by name.

    Attributes:
        epoch: completed epochs.
        global_step: child steps done.
        step_in_epoch: child steps done in the current epoch.
        stage: a `Stage`, where in the epoch the run is.
        stage_step: steps done in the current stage (the controller updates of a phase).
    """

    def __init__(self, output_dir: str, max_to_keep: int = 2, restore_dir: str | None = None, **trackables: Any):
        def counter(name: str) -> tf.Variable:
            return tf.Variable(0, dtype=tf.int64, trainable=False, name=name)

        self.epoch = counter("epoch")
        self.global_step = counter("global_step")
        self.step_in_epoch = counter("step_in_epoch")
        self.stage = counter("stage")
        self.stage_step = counter("stage_step")
        self.checkpoint = tf.train.Checkpoint(
            epoch=self.epoch, global_step=self.global_step, step_in_epoch=self.step_in_epoch, stage=self.stage,
            stage_step=self.stage_step, **with_all_weights(trackables)
        )
        self.directory = os.path.join(output_dir, CHECKPOINT_SUBDIR)
        # Non-chief workers save into a temporary folder but resume from the chief's checkpoints.
        self.restore_dir = os.path.join(restore_dir or output_dir, CHECKPOINT_SUBDIR)
        self.max_to_keep = max_to_keep
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=max_to_keep)
        self.last_save_time = time.monotonic()

    def position(self) -> str:
        """The run's position in words, for log lines."""
        stage = Stage(int(self.stage))
        where = {Stage.CHILD: f"step {int(self.step_in_epoch)} of epoch {int(self.epoch) + 1}",
                 Stage.HOOKS: f"the end of epoch {int(self.epoch)} (controller update {int(self.stage_step)})",
                 Stage.EVALUATION: f"the evaluation after epoch {int(self.epoch)}"}[stage]
        return f"global step {int(self.global_step)}, {where}"

    def restore_latest(self) -> str | None:
        """Restores the newest readable checkpoint; returns its path, or None when there is none.

        Unreadable newer ones are warned about by name and, in the run's own folder, moved into
        `checkpoints/damaged/` (kept, out of the manager's way).

        Raises:
            CheckpointMismatchError: the newest checkpoint does not fit these networks (other flags).
            TrainingError: checkpoint files exist but none can be read (nothing is deleted).
        """
        candidates = list_checkpoints(self.restore_dir)
        damaged: list[str] = []
        restored = None
        for _, prefix, complete in candidates:
            if not complete:
                logging.warning("Checkpoint %s is incomplete (its .index or .data file is missing); skipping it.", prefix)
                damaged.append(prefix)
                continue
            try:
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
            except Exception as error:  # pylint: disable=broad-except
                if _is_mismatch(error):
                    raise CheckpointMismatchError(
                        f"The checkpoint {prefix} does not fit the networks these flags build: "
                        f"{str(error).splitlines()[0][:300]}"
                    ) from None
                logging.warning("Checkpoint %s cannot be read (%s: %s); trying the one before it.", prefix,
                                type(error).__name__, str(error).splitlines()[0][:200] if str(error) else "")
                damaged.append(prefix)
                continue
            restored = prefix
            break
        if restored is None and candidates:
            raise TrainingError(
                f"None of the {len(candidates)} checkpoints in {self.restore_dir} can be read "
                f"({', '.join(os.path.basename(p) for _, p, _ in candidates)}); nothing was deleted. Move the folder "
                "aside to keep it, or rerun with --reset_output_dir (or another --output_dir) to start over."
            )
        if self.restore_dir == self.directory and (damaged or candidates):
            self._tidy(damaged, [p for _, p, _ in candidates if p not in damaged])
        self.last_save_time = time.monotonic()
        return restored

    def _tidy(self, damaged: list[str], good: list[str]) -> None:
        """Moves damaged checkpoints aside and rewrites the manager's index over the good ones."""
        if damaged:
            target = os.path.join(self.directory, DAMAGED_SUBDIR)
            os.makedirs(target, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for prefix in damaged:
                base = os.path.basename(prefix)
                for name in os.listdir(self.directory):
                    if name.startswith(base + ".") and _CHECKPOINT_FILE.match(name):
                        os.replace(os.path.join(self.directory, name), os.path.join(target, f"{stamp}.{name}"))
                logging.warning("Moved the unreadable checkpoint %s into %s", base, target)
        oldest_first = sorted(good, key=lambda p: int(p.rsplit("-", 1)[1]))
        if oldest_first:
            # With their times, so that the manager still deletes the oldest beyond --keep_checkpoints.
            checkpoint_management.update_checkpoint_state_internal(
                self.directory, oldest_first[-1], all_model_checkpoint_paths=oldest_first,
                all_model_checkpoint_timestamps=[os.path.getmtime(p + ".index") for p in oldest_first],
                last_preserved_timestamp=0.0,
            )
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=self.max_to_keep)
        if oldest_first and damaged:
            # The save counter continues after the newest file ever written, damaged ones included.
            newest = max(int(p.rsplit("-", 1)[1]) for p in damaged + oldest_first)
            self.checkpoint.save_counter.assign(max(newest, int(self.checkpoint.save_counter)))

    def save(self, reason: str = "") -> str:
        """Writes a checkpoint (`ckpt-<n>`, n counting saves); returns its path."""
        path = self.manager.save()
        self.last_save_time = time.monotonic()
        logging.info("Saved checkpoint %s (%s%s)", path, self.position(), f"; {reason}" if reason else "")
        return path

    def minutes_since_save(self) -> float:
        return (time.monotonic() - self.last_save_time) / 60.0
