"""Where a run reports: absl log lines, `<output_dir>/stdout`, TensorBoard, a progress bar.

Log lines carry the original's fields (ENAS_SPEC.md 7.3) as `key=value` pairs so
that logs can be compared with the TF1 code's. TensorBoard tags are stable
slash paths (`child/loss`, `controller/reward`, `eval/test_accuracy`, ...).
"""

from __future__ import annotations

import logging as std_logging
import os
import sys
import time
from typing import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow.core.framework import summary_pb2

from enas_tf2.pictures import write_png

STDOUT_FILE = "stdout"


def _plugin_metadata(plugin_name: str) -> summary_pb2.SummaryMetadata:
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin_name
    return metadata


# TensorFlow 2.21 no longer depends on the `tensorboard` package, whose absence
# breaks `tf.summary.scalar`/`text`. Events are written with the core
# `tf.summary.write` and the plugin metadata TensorBoard expects, so runs need no
# extra dependency; `pip install tensorboard` only to *view* them.
_SCALAR_METADATA = _plugin_metadata("scalars")
_TEXT_METADATA = _plugin_metadata("text")
_IMAGE_METADATA = _plugin_metadata("images")


class Monitor:
    """Logging, summaries and timing of one run.

    Args:
        output_dir: the run folder: `stdout` (a copy of every log line, appended,
            as the original) and TensorBoard event files go there.
        progress_bar: show a `keras.utils.Progbar` per epoch; None = only when
            stdout is an interactive terminal.
    """

    def __init__(self, output_dir: str, progress_bar: bool | None = None):
        self.output_dir = output_dir
        self.start_time = time.time()
        self.writer = tf.summary.create_file_writer(output_dir)
        self._file_handler = std_logging.FileHandler(os.path.join(output_dir, STDOUT_FILE))
        self._file_handler.setFormatter(std_logging.Formatter("%(asctime)s %(message)s"))
        logging.get_absl_logger().addHandler(self._file_handler)
        self.progress_bar = sys.stdout.isatty() if progress_bar is None else progress_bar
        self._progbar: keras.utils.Progbar | None = None

    def write_to_log_file(self, line: str) -> None:
        """A line in `<output_dir>/stdout` only (not on the terminal)."""
        record = std_logging.LogRecord("enas_tf2", std_logging.ERROR, __file__, 0, line, None, None)
        self._file_handler.emit(record)
        self._file_handler.flush()

    def minutes(self) -> float:
        return (time.time() - self.start_time) / 60.0

    def close(self) -> None:
        self.writer.flush()
        logging.get_absl_logger().removeHandler(self._file_handler)
        self._file_handler.close()

    def scalars(self, step: int, values: Mapping[str, float], prefix: str) -> None:
        """Writes `prefix/name` scalars at `step`."""
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.write(
                    f"{prefix}/{name}", tf.constant(float(value), tf.float32), metadata=_SCALAR_METADATA
                )

    def text(self, step: int, tag: str, value: str) -> None:
        with self.writer.as_default(step=step):
            # Two trailing spaces make Markdown keep the line breaks of an arc's rows.
            tf.summary.write(tag, tf.constant(value.replace("\n", "  \n")), metadata=_TEXT_METADATA)

    def picture(self, step: int, tag: str, draw: Callable[[], np.ndarray], path: str) -> str | None:
        """Draws a picture, writes it to `path` as PNG and to TensorBoard as the image `tag`.

        Pictures are a view of results already saved (the arc files), so a drawing failure is
        logged as a warning and never stops a run. Returns `path`, or None if drawing failed or
        `draw` returned None (a task without pictures).
        """
        try:
            image = draw()
            if image is None:
                return None
            write_png(image, path)
            with open(path, "rb") as f:
                png = f.read()
        except Exception as error:  # noqa: BLE001 - a picture must never cost a run
            logging.warning("Could not draw %s (%s: %s); the run goes on.", path, type(error).__name__, error)
            return None
        height, width = image.shape[:2]
        with self.writer.as_default(step=step):
            # The TensorBoard image plugin's layout: [width, height, png bytes] as strings.
            tf.summary.write(tag, tf.constant([str(width), str(height), png]), metadata=_IMAGE_METADATA)
        logging.info("Wrote %s", path)
        return path

    def start_epoch(self, num_steps: int) -> None:
        self._progbar = keras.utils.Progbar(num_steps, stateful_metrics=["loss", "acc"]) if self.progress_bar else None

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
