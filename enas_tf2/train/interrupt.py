"""Stopping a run cleanly: SIGTERM and SIGINT become a request to save at the next step and exit.

Schedulers send SIGTERM some seconds before they kill a job; a user presses Ctrl-C. Either way
the run should not lose the work since its last checkpoint, nor print a traceback. While a
`StopSignals` is active, the first SIGTERM or SIGINT only sets `requested`; the training loop
looks at it between two steps (child or controller), saves a checkpoint there and raises
`RunInterrupted`, which the programs turn into one line saying how to resume. A second SIGINT
exits at once (status 130), for when even one more step is too long.

Under `multi_worker` a worker that stops alone leaves the others waiting in a collective, and
a checkpoint is a collective too. So the workers decide together: at every point where a run
may stop or save, `StopSignals.agree` combines every worker's wishes (a signal received, a
checkpoint due by time) with one small all-reduce (`distribute.any_worker`), and all of them
save and stop at the same step. This is what TensorFlow's `PreemptionCheckpointHandler` does
through the coordination service, done here with a collective because the loop owns its
checkpoints, counters and resume position.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable, Sequence

#: Exit status of a run stopped by a signal (the shell's 128 + signal number).
EXIT_STATUS = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGINT: 128 + signal.SIGINT}


class RunInterrupted(Exception):
    """The run stopped at a signal after saving; `message` says where and how to resume."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS.get(self.signum, 1)


class StopSignals:
    """A context in which SIGTERM and SIGINT request a clean stop instead of killing the process.

    Outside the main thread (signals cannot be caught there), or with `enabled=False`, it
    catches nothing (`request` still works).

    Args:
        enabled: whether to catch the signals.
        combine: under `multi_worker`, `distribute.any_worker(strategy)`: flags in, each true on
            every worker if it is true on any; None (one process): each worker decides alone.

    Attributes:
        signum: the signal received first (or, under `multi_worker`, the one another worker
            received), or None.
        remote: whether the stop came from another worker.
    """

    def __init__(self, enabled: bool = True, combine: Callable[[Sequence[bool]], list[bool]] | None = None):
        self.enabled = enabled
        self.combine = combine
        self.signum: int | None = None
        self.remote = False
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        if self.signum is None:
            return ""
        return signal.Signals(self.signum).name + (" on another worker" if self.remote else "")

    def agree(self, save_due: bool = False) -> tuple[bool, bool]:
        """(stop, save) for this point, the same on every worker: whether any asked to stop or is due to save.

        Every worker must call it at the same points (between the same two steps); in one process
        it only reads the local flags.
        """
        if self.combine is None:
            return self.requested, save_due
        stop, save = self.combine([self.requested, save_due])
        if stop and not self.requested:
            self.signum, self.remote = signal.SIGTERM, True
        return stop, save

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Asks for a stop as a signal would (tests, or a caller that wants the run to end)."""
        if self.signum is None:
            self.signum = signum

    def _handle(self, signum, frame) -> None:  # pylint: disable=unused-argument
        if self.signum is not None and signum == signal.SIGINT:
            sys.stderr.write("Second interrupt: exiting now, without saving.\n")
            sys.stderr.flush()
            os._exit(EXIT_STATUS[signal.SIGINT])  # pylint: disable=protected-access
        if self.signum is None:
            self.signum = signum
            sys.stderr.write(f"{signal.Signals(signum).name} received: saving at the next step, then exiting "
                             "(press Ctrl-C again to exit at once).\n")
            sys.stderr.flush()

    def __enter__(self) -> "StopSignals":
        if self.enabled and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
