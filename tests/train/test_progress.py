"""Progress lines off a terminal: phase, count, rate and ETA, from the counter the loop sets."""

from __future__ import annotations

import time

from absl import logging

from enas_tf2.train.progress import PhaseProgress, format_duration


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_format_duration():
    assert [format_duration(s) for s in (0, 42.4, 185, 7620)] == ["0s", "42s", "3m05s", "2h07m"]


def test_line_has_phase_count_rate_and_eta_without_the_first_step():
    clock = FakeClock()
    progress = PhaseProgress(30, clock=clock)
    progress.start("child epoch 3", total=100)
    clock.now += 40.0  # tracing the first step
    assert progress.line() == "progress: child epoch 3: step 0/100 (0%), 40s in, waiting for the first step"
    progress.update(1)
    clock.now += 10.0
    progress.update(21)  # 20 steps in 10 s after the first one
    assert progress.line() == "progress: child epoch 3: step 21/100 (21%), 2 steps/s, ETA 40s"
    progress.end()
    assert progress.line() is None
    progress.start("evaluation (valid)", total=None, unit="batch")
    progress.update(5)
    clock.now += 1.0
    progress.update(10)
    assert progress.line() == "progress: evaluation (valid): batch 10, 5 batches/s"
    progress.close()


def test_disabled_progress_starts_no_thread_and_reports_nothing():
    progress = PhaseProgress(0)
    progress.start("child epoch 1", total=5)
    progress.update(3)
    assert progress._thread is None and progress.line() is None  # pylint: disable=protected-access


def test_the_thread_logs_at_least_every_interval(monkeypatch):
    lines = []
    monkeypatch.setattr(logging, "info", lambda fmt, *args: lines.append(fmt % args))
    progress = PhaseProgress(0.05)
    progress.start("controller phase", total=10, unit="update")
    progress.update(1)
    time.sleep(0.08)
    progress.update(4)
    time.sleep(0.3)
    progress.close()
    assert len(lines) >= 3 and all(line.startswith("progress: controller phase: update ") for line in lines)
    assert "update 4/10 (40%)" in lines[-1] and "ETA" in lines[-1]
