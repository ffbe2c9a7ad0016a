"""What both programs do around a run: flags -> config -> task, warnings, `--summary_only`, errors.

`cifar10_main` and `ptb_main` differ only in their flags, their config resolution and their
task; `main` here is the rest, written once.
"""

from __future__ import annotations

import gc
from typing import Callable

from absl import logging

from enas_tf2.errors import EnasError, FlagError
from enas_tf2.flags import common
from enas_tf2.run import run
from enas_tf2.tasks.base import Task
from enas_tf2.train.interrupt import RunInterrupted


def main(argv: list[str], program: str, flags_module: str, resolve: Callable, inert_flag_warnings: Callable,
         make_task: Callable[..., Task]) -> None:
    """Resolves the flags (after `--preset`), warns about inert ones, then summarises or runs the task.

    Raises:
        SystemExit: with `error: <message>` (printed once, no traceback) for every user-facing error
            (`EnasError`); with status 128 + the signal's number after a clean stop at SIGTERM / SIGINT.
    """
    try:
        if len(argv) > 1:
            raise FlagError(f"Unexpected positional arguments: {argv[1:]}. Every setting is a --flag.")
        values = common.resolved_flag_values(program, flags_module)
        config = resolve(values)
        for warning in inert_flag_warnings(values, common.flag_defaults(flags_module)):
            logging.warning("%s", warning)
        task = make_task(config)
        if values.get("summary_only"):
            print("\n".join(task.summary_lines()))
            return
        run(task)
        # Frees the run's tf.functions and the distributed iterators they hold while TensorFlow is
        # still up: left to interpreter shutdown, a multi-device iterator stalls the exit for 10-80 s.
        gc.collect()
    except RunInterrupted as stopped:  # already logged, with how to resume
        gc.collect()
        raise SystemExit(stopped.exit_status) from None
    except EnasError as error:
        raise SystemExit(f"error: {error}") from None
