"""Progress lines off a terminal: where a long phase is, at least every `--progress_secs` seconds.

On a terminal a child epoch shows a `keras.utils.Progbar`. Piped into a file or a job
scheduler's log, a progress bar is noise, and between two `--log_every` lines a long epoch (or a
controller phase, or an evaluation) would print nothing for minutes. `PhaseProgress` prints one
line instead, every `every_secs` seconds while a phase runs:

    progress: child epoch 3: step 120/390 (31%), 2.41 steps/s, ETA 1m52s

The line comes from a daemon thread that reads the counter the training loop sets (one integer
assignment per step, no device work), so it also appears while a step is being traced and
compiled, and a step never waits for it. Rates leave out the phase's first step (its trace).
"""

from __future__ import annotations

import threading
import time

from absl import logging


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("ch", "sh", "s", "x")) else "s")


class PhaseProgress:
    """Reports the phase in progress every `every_secs` seconds (from a daemon thread).

    Args:
        every_secs: seconds between two lines; 0 (or `enabled=False`) turns reporting off, and
            `start`/`update`/`end` then cost nothing.
        enabled: report at all (the monitor turns it on when stdout is not a terminal).
        clock: the time source (tests pass a fake one).
    """

    def __init__(self, every_secs: float, enabled: bool = True, clock=time.monotonic):
        self.every_secs = float(every_secs)
        self.enabled = bool(enabled) and self.every_secs > 0
        self._clock = clock
        self._lock = threading.Lock()
        self._phase: str | None = None
        self._unit = "step"
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._first: tuple[int, float] | None = None  # (done, time) at the phase's first update
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self, phase: str, total: int | None, unit: str = "step", done: int = 0) -> None:
        """A phase begins: `total` units (None: unknown), `done` of them already (a resumed epoch)."""
        if not self.enabled:
            return
        with self._lock:
            self._phase, self._unit, self._total, self._done = phase, unit, total, done
            self._started, self._first = self._clock(), None
        if self._thread is None:
            self._thread = threading.Thread(target=self._report_loop, name="enas-progress", daemon=True)
            self._thread.start()
        self._wake.set()  # restart the interval: the first line comes `every_secs` into the phase

    def update(self, done: int) -> None:
        """`done` units of the phase are finished."""
        if not self.enabled:
            return
        self._done = done
        if self._first is None:
            self._first = (done, self._clock())

    def end(self) -> None:
        """The phase is over: no more lines until the next `start`."""
        if self.enabled:
            with self._lock:
                self._phase = None

    def close(self) -> None:
        """Stops the thread (the monitor closes it at the end of the run)."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def line(self) -> str | None:
        """The progress line of the current phase now; None between phases."""
        with self._lock:
            phase, unit, total, done, first, started = (self._phase, self._unit, self._total, self._done,
                                                        self._first, self._started)
        if phase is None:
            return None
        now = self._clock()
        count = f"{unit} {done}/{total} ({100.0 * done / total:.0f}%)" if total else f"{unit} {done}"
        parts = [f"progress: {phase}: {count}"]
        if first is not None and done > first[0] and now > first[1]:
            rate = (done - first[0]) / (now - first[1])
            parts.append(f"{rate:.3g} {_plural(unit)}/s")
            if total:
                parts.append(f"ETA {format_duration((total - done) / rate)}")
        elif done == 0 or first is None:
            parts.append(f"{format_duration(now - started)} in, waiting for the first {unit}")
        return ", ".join(parts)

    def _report_loop(self) -> None:
        while not self._closed:
            if self._wake.wait(self.every_secs):  # a new phase (or close): start the interval again
                self._wake.clear()
                continue
            line = self.line()
            if line is not None:
                logging.info("%s", line)
