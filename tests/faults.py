"""Fault injection for the resume tests: stop or "kill" a run in-process at a chosen point, compare checkpoints.

A SIGKILL is simulated by raising `Killed` at the chosen point: nothing after it runs, in
particular no checkpoint is written (the run's `finally` only closes files and releases the
lock, which a real kill leaves behind; the lock tests cover that case). A SIGTERM is the real
handler's effect: `StopSignals.request()` at the chosen step boundary.
"""

from __future__ import annotations

import contextlib
import pathlib
import signal

import numpy as np
import tensorflow as tf

from enas_tf2.train import loop as loop_lib
from enas_tf2.train import search as search_lib
from enas_tf2.train.interrupt import RunInterrupted


class Killed(Exception):
    """A simulated SIGKILL."""


@contextlib.contextmanager
def fault_at_boundary(number: int, kind: str):
    """`kind` ("term" or "kill") at the `number`-th step boundary (child or controller step) of the next run."""
    original = loop_lib.TrainingLoop.maybe_stop_or_save
    calls = [0]

    def patched(self, **position):
        calls[0] += 1
        if calls[0] == number:
            if kind == "kill":
                raise Killed(f"killed at boundary {number}")
            self.stop.request(signal.SIGTERM)
        return original(self, **position)

    loop_lib.TrainingLoop.maybe_stop_or_save = patched
    try:
        yield calls
    finally:
        loop_lib.TrainingLoop.maybe_stop_or_save = original


@contextlib.contextmanager
def kill_in_derivation(after_samples: int = 2):
    """Kills the derivation after it sampled `after_samples` architectures (the controller RNG has moved)."""
    original = search_lib.Search.derive

    def patched(self):
        for _ in range(after_samples):
            self.controller.sample_arc()
        raise Killed("killed in the derivation")

    search_lib.Search.derive = patched
    try:
        yield
    finally:
        search_lib.Search.derive = original


def kill_in_evaluation(task, call: int = 1):
    """Makes `task.evaluate` raise `Killed` on its `call`-th call (after the pre-evaluation checkpoint)."""
    original = task.evaluate
    calls = [0]

    def patched(epoch, step):
        calls[0] += 1
        if calls[0] == call:
            raise Killed("killed in the evaluation")
        return original(epoch, step)

    task.evaluate = patched


def run_expecting(run_fn, *exceptions):
    """Runs `run_fn()`; returns the exception it raised (one of `exceptions`), or None."""
    try:
        run_fn()
    except exceptions as error:  # noqa: PERF203
        return error
    return None


def checkpoint_values(output_dir: pathlib.Path) -> dict[str, np.ndarray]:
    """Every value of the newest checkpoint of a run, by name (the save counter and object graph left out: they count saves)."""
    path = tf.train.latest_checkpoint(str(output_dir / "checkpoints"))
    assert path is not None, f"no checkpoint in {output_dir}"
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(path)
            if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))}


def assert_same_checkpoint(output_dir: pathlib.Path, reference_dir: pathlib.Path) -> int:
    """Every variable of the two runs' newest checkpoints is bit-identical; returns how many were compared."""
    got, want = checkpoint_values(output_dir), checkpoint_values(reference_dir)
    assert set(got) == set(want), sorted(set(got) ^ set(want))[:10]
    different = [name for name in want if not np.array_equal(got[name], want[name])]
    assert not different, f"{len(different)} of {len(want)} values differ, e.g. {different[:8]}"
    return len(want)


__all__ = ["Killed", "RunInterrupted", "assert_same_checkpoint", "checkpoint_values", "fault_at_boundary",
           "kill_in_derivation", "kill_in_evaluation", "run_expecting"]
