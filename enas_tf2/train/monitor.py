"""Where a run reports: absl log lines, `<output_dir>/stdout`, TensorBoard, progress.

Log lines carry the original's fields (ENAS_SPEC.md 7.3) as `key=value` pairs so
that logs can be compared with the TF1 code's. TensorBoard summaries go through the
standard `tf.summary` API (scalars, text, images, and the run's flags in the HParams
dashboard); tags are stable slash paths (`child/loss`, `controller/reward`,
`eval/test_accuracy`, `arc/sampled_picture`, ...). Progress: a `keras.utils.Progbar` per child
epoch on a terminal, `train.progress` lines otherwise.
"""

from __future__ import annotations

import logging as std_logging
import os
import sys
import time
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2.pictures import write_png
from enas_tf2.train.progress import PhaseProgress

STDOUT_FILE = "stdout"


class Monitor:
    """Logging, summaries and timing of one run.

    Args:
        output_dir: the run folder: `stdout` (a copy of every log line, appended,
            as the original) and TensorBoard event files go there.
        progress_bar: show a `keras.utils.Progbar` per epoch; None = only when
            stdout is an interactive terminal.
        progress_secs: without the bar, a progress line at least this often during every
            phase (`train.progress`; 0: none).
    """

    def __init__(self, output_dir: str, progress_bar: bool | None = None, progress_secs: float = 0.0):
        self.output_dir = output_dir
        self.start_time = time.time()
        self.writer = tf.summary.create_file_writer(output_dir)
        self._file_handler = std_logging.FileHandler(os.path.join(output_dir, STDOUT_FILE))
        self._file_handler.setFormatter(std_logging.Formatter("%(asctime)s %(message)s"))
        logging.get_absl_logger().addHandler(self._file_handler)
        self.progress_bar = sys.stdout.isatty() if progress_bar is None else progress_bar
        self._progbar: keras.utils.Progbar | None = None
        #: Phase, step/total, rate and ETA lines off a terminal; tasks and hooks report to it.
        self.progress = PhaseProgress(progress_secs, enabled=not self.progress_bar)

    def write_to_log_file(self, line: str) -> None:
        """A line in `<output_dir>/stdout` only (not on the terminal)."""
        record = std_logging.LogRecord("enas_tf2", std_logging.ERROR, __file__, 0, line, None, None)
        self._file_handler.emit(record)
        self._file_handler.flush()

    def minutes(self) -> float:
        return (time.time() - self.start_time) / 60.0

    def close(self) -> None:
        self.progress.close()
        self.writer.flush()
        logging.get_absl_logger().removeHandler(self._file_handler)
        self._file_handler.close()

    def scalars(self, step: int, values: Mapping[str, float], prefix: str) -> None:
        """Writes `prefix/name` scalars at `step`."""
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(f"{prefix}/{name}", float(value))

    def text(self, step: int, tag: str, value: str) -> None:
        with self.writer.as_default(step=step):
            # Two trailing spaces make Markdown keep the line breaks of an arc's rows.
            tf.summary.text(tag, value.replace("\n", "  \n"))

    def image(self, step: int, tag: str, image: np.ndarray) -> None:
        """An RGB uint8 `[H, W, 3]` image in TensorBoard (the step slider shows how it changes)."""
        with self.writer.as_default(step=step):
            tf.summary.image(tag, np.asarray(image, np.uint8)[None])

    def hparams(self, values: Mapping[str, Any], trial_id: str | None = None) -> None:
        """The run's flags in TensorBoard's HParams dashboard (one row per run folder).

        HParams values must be numbers, booleans or strings: None and lists are written as text.
        """
        from tensorboard.plugins.hparams import api as hp  # pylint: disable=import-outside-toplevel

        def value(v: Any) -> bool | int | float | str:
            return v if isinstance(v, (bool, int, float, str)) else str(v)

        with self.writer.as_default(step=0):
            hp.hparams({name: value(v) for name, v in values.items()}, trial_id=trial_id)

    def picture(self, step: int, tag: str, draw: Callable[[], np.ndarray], path: str | None = None) -> str | None:
        """Draws a picture, writes it to `path` as PNG (None: no file) and to TensorBoard as the image `tag`.

        Pictures are a view of results already saved (the arc files), so a drawing failure is
        logged as a warning and never stops a run. Returns `path`, or None if drawing failed or
        `draw` returned None (a task without pictures).
        """
        try:
            image = draw()
            if image is None:
                return None
            if path is not None:
                write_png(image, path)
        except Exception as error:  # noqa: BLE001 - a picture must never cost a run
            logging.warning("Could not draw %s (%s: %s); the run goes on.", path or tag, type(error).__name__, error)
            return None
        self.image(step, tag, image)
        if path is not None:
            logging.info("Wrote %s", path)
        return path

    def start_epoch(self, num_steps: int | None, epoch: int = 1, done: int = 0) -> None:
        """A child epoch of `num_steps` steps begins (`done` of them before a resume)."""
        self._progbar = keras.utils.Progbar(num_steps, stateful_metrics=["loss", "acc"]) if self.progress_bar else None
        self.progress.start(f"child epoch {epoch}", num_steps, done=done)

    def update_progress(self, step_in_epoch: int, loss: float | None = None, accuracy: float | None = None) -> None:
        if self._progbar is not None:
            values = [] if loss is None else [("loss", loss), ("acc", accuracy)]
            self._progbar.update(step_in_epoch, values=values)


def to_python(logs: Mapping[str, tf.Tensor]) -> dict[str, float | np.ndarray]:
    """Fetches a step's log tensors (one device-to-host copy, only when logging)."""
    out = {}
    for name, value in logs.items():
        array = np.asarray(value)
        out[name] = array if array.ndim else array.item()
    return out
