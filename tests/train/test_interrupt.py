"""StopSignals: a signal becomes a stop request; under multi_worker the workers' wishes are combined."""

from __future__ import annotations

import os
import signal

from enas_tf2.train.interrupt import RunInterrupted, StopSignals


def test_sigterm_becomes_a_request_while_active_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.name == "SIGTERM" and stop.agree(save_due=True) == (True, True)
    assert signal.getsignal(signal.SIGTERM) is before


def test_agree_alone_reads_the_local_flags():
    stop = StopSignals(enabled=False)
    assert stop.agree() == (False, False) and stop.agree(save_due=True) == (False, True)
    stop.request(signal.SIGINT)
    assert stop.agree() == (True, False) and stop.name == "SIGINT"


def test_agree_under_multi_worker_stops_a_worker_that_got_no_signal():
    """The flags go through `combine` (an all-reduce in a real run); another worker's stop is this one's."""
    sent = []

    def other_worker_stops(flags):  # what distribute.any_worker returns when the other worker got SIGTERM
        sent.append(list(flags))
        return [True, bool(flags[1])]

    stop = StopSignals(enabled=False, combine=other_worker_stops)
    assert stop.agree(save_due=False) == (True, False)
    assert sent == [[False, False]] and stop.requested and stop.remote
    assert stop.name == "SIGTERM on another worker"
    assert RunInterrupted("stopped", stop.signum).exit_status == 128 + signal.SIGTERM


def test_a_save_due_on_any_worker_is_due_on_all():
    stop = StopSignals(enabled=False, combine=lambda flags: [bool(flags[0]), True])
    assert stop.agree(save_due=False) == (False, True) and not stop.requested
