"""What both programs do around a run: flags -> config -> task, warnings, `--summary_only`, errors.

`cifar10_main` and `ptb_main` differ only in their flags, their config resolution and their
task; `main` here is the rest, written once.

TensorFlow is imported only once the flags are resolved (`startup.import_tensorflow_quietly`,
then the task's modules): `--help` and every flag error answer in a fraction of a second
instead of after TensorFlow's two-second import, and without its start-up notices.
"""

from __future__ import annotations

import gc
from typing import Any, Callable, Mapping

from absl import logging

from enas_tf2 import startup
from enas_tf2.errors import EnasError, FlagError
from enas_tf2.flags import common

#: Flags recorded as HParams in TensorBoard even when they keep their default (the run's identity).
HPARAM_FLAGS = ("preset", "search_for", "search_policy", "seed", "num_epochs", "batch_size", "child_fixed_arc")


_AS_IN_THE_ORIGINAL = " has no effect (as in the original)."


def inert_flags_line(warnings: list[str]) -> str | None:
    """All inert-flag warnings as one line (None if there are none).

    `--name=value has no effect (as in the original).` messages are listed by flag; the others
    (a flag without effect on this space) keep their words.
    """
    if not warnings:
        return None
    plain = [w[: -len(_AS_IN_THE_ORIGINAL)] for w in warnings if w.endswith(_AS_IN_THE_ORIGINAL)]
    other = [w.rstrip(".") for w in warnings if not w.endswith(_AS_IN_THE_ORIGINAL)]
    parts = ([f"{', '.join(plain)} {'has' if len(plain) == 1 else 'have'} no effect (as in the original)"]
             if plain else []) + other
    return "; ".join(parts) + "."


def hparams(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The flags a TensorBoard HParams table shows for this run: those off their default, and `HPARAM_FLAGS`."""
    return {name: value for name, value in sorted(values.items())
            if name in HPARAM_FLAGS or (value != defaults.get(name) and name != "reset_output_dir")}


def main(argv: list[str], program: str, flags_module: str, resolve: Callable, inert_flag_warnings: Callable,
         make_task: Callable[..., Any]) -> None:
    """Resolves the flags (after `--preset`), warns about inert ones, then summarises or runs the task.

    Args:
        make_task: config -> task; it imports the task's modules (and so TensorFlow) when called.

    Raises:
        SystemExit: with `error: <message>` (printed once, no traceback) for every user-facing error
            (`EnasError`); with status 128 + the signal's number after a clean stop at SIGTERM / SIGINT.
    """
    try:
        if len(argv) > 1:
            raise FlagError(f"Unexpected positional arguments: {argv[1:]}. Every setting is a --flag.")
        values = common.resolved_flag_values(program, flags_module)
        config = resolve(values)
        defaults = common.flag_defaults(flags_module)
        line = inert_flags_line(inert_flag_warnings(values, defaults))
        if line:
            logging.warning("%s", line)
        startup.import_tensorflow_quietly()
        # pylint: disable=import-outside-toplevel
        from enas_tf2.run import run
        from enas_tf2.train.interrupt import RunInterrupted

        task = make_task(config)
        if values.get("summary_only"):
            print("\n".join(task.summary_lines()))
            return
        try:
            run(task, hparams=hparams(values, defaults))
        except RunInterrupted as stopped:  # already logged, with how to resume
            gc.collect()
            raise SystemExit(stopped.exit_status) from None
        # Frees the run's tf.functions and the distributed iterators they hold while TensorFlow is
        # still up: left to interpreter shutdown, a multi-device iterator stalls the exit for 10-80 s.
        gc.collect()
    except EnasError as error:
        raise SystemExit(f"error: {error}") from None
