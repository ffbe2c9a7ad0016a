"""A quiet TensorFlow start: no CUDA, cudart or oneDNN notices on a machine without a GPU.

Importing TensorFlow 2.21's wheel prints, on a CPU-only machine, about nine lines to the
process's stderr: the oneDNN and "Could not find cuda drivers" notices (twice, because two
of its libraries each log them), a CPU-feature notice, absl's "All log messages before
absl::InitializeLog()" line and, at the first device query, "failed call to cuInit". Most of
them are written by C++ code before absl's logging is set up, so `TF_CPP_MIN_LOG_LEVEL` does
not silence them; only the file descriptor itself can be filtered.

`set_quiet_defaults()` (run by `enas_tf2/__init__.py`, before anything can import TensorFlow)
sets `TF_CPP_MIN_LOG_LEVEL=1` (no C++ INFO lines; warnings and errors stay) unless the user
chose a level. `import_tensorflow_quietly()` (the first thing each program does) imports
TensorFlow and lists its devices with file descriptor 2 pointed at a temporary file, then
writes back every line it caught except the known start-up notices (`is_startup_notice`), so
warnings and errors that matter still reach the terminal. It does nothing when TensorFlow is
already imported or when the user set `TF_CPP_MIN_LOG_LEVEL`: whoever sets it wants
TensorFlow's own logging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from typing import Iterator

#: The C++ log level set unless the user chose one: 1 hides INFO lines, keeps warnings and errors.
DEFAULT_TF_CPP_MIN_LOG_LEVEL = "1"
#: Marks a `TF_CPP_MIN_LOG_LEVEL` set by this project (inherited by the processes a run starts),
#: as opposed to one the user set.
_DEFAULT_MARKER = "ENAS_TF2_DEFAULT_TF_LOG_LEVEL"

#: Lines of a CPU-only TensorFlow start-up that tell nothing to act on (regular expressions).
STARTUP_NOTICES = (
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"cudart_stub\.cc.*Could not find cuda drivers",
    r"failed call to cuInit",
    r"cpu_feature_guard\.cc",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
)
_NOTICE = re.compile("|".join(f"(?:{pattern})" for pattern in STARTUP_NOTICES))


def is_startup_notice(line: str) -> bool:
    """Whether `line` is one of TensorFlow's CPU start-up notices (`STARTUP_NOTICES`)."""
    return bool(_NOTICE.search(line))


def without_startup_notices(text: str) -> str:
    """`text` without the lines that are start-up notices."""
    return "".join(line for line in text.splitlines(keepends=True) if not is_startup_notice(line))


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Catches everything written to file descriptor 2, then writes it back without the notices.

    The catch is at the descriptor, so it holds for C++ and Python writers alike. What was
    caught is written back also when the body raises.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no stderr descriptor (some embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as caught:
        sys.stderr.flush()
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = without_startup_notices(caught.read().decode("utf-8", errors="replace"))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def user_chose_log_level() -> bool:
    """Whether `TF_CPP_MIN_LOG_LEVEL` was set by the user rather than by `set_quiet_defaults`."""
    return "TF_CPP_MIN_LOG_LEVEL" in os.environ and os.environ.get(_DEFAULT_MARKER) != os.environ["TF_CPP_MIN_LOG_LEVEL"]


def set_quiet_defaults() -> None:
    """`TF_CPP_MIN_LOG_LEVEL=1` unless the user set a level (only effective before TensorFlow loads)."""
    if not user_chose_log_level():
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = DEFAULT_TF_CPP_MIN_LOG_LEVEL
        os.environ[_DEFAULT_MARKER] = DEFAULT_TF_CPP_MIN_LOG_LEVEL


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow (and queries its devices) without its CPU start-up notices.

    A no-op when TensorFlow is imported already or the user set `TF_CPP_MIN_LOG_LEVEL`.
    """
    if "tensorflow" in sys.modules or user_chose_log_level():
        return
    set_quiet_defaults()
    with filtered_stderr():
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        # The first device query loads the CUDA platform, which logs cuInit's failure without a
        # GPU. Listing devices does not initialise the runtime: logical devices and a
        # multi-worker strategy can still be configured afterwards.
        tf.config.list_physical_devices()
    quiet_tensorflow_python_logs()


#: INFO lines of TensorFlow's Python code that every run would print without telling anything.
PYTHON_LOG_NOISE = ("Sharding callback duration",)


class _NoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(noise in message for noise in PYTHON_LOG_NOISE)


def quiet_tensorflow_python_logs() -> None:
    """Drops `PYTHON_LOG_NOISE` (e.g. a line per checkpoint saved) from TensorFlow's Python log lines.

    TensorFlow's Python code logs both through its own logger and through absl's.
    """
    for name in ("tensorflow", "absl"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoiseFilter) for f in logger.filters):
            logger.addFilter(_NoiseFilter())
