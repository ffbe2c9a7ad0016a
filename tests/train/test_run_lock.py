"""One writer per run folder: a second process is refused by name, a dead one's lock is taken over."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from enas_tf2.train.run_lock import LOCK_FILE, RunLock, RunLockedError


def test_a_second_holder_is_refused_with_the_holders_pid_and_the_lock_goes_at_release(tmp_path):
    with RunLock(str(tmp_path)):
        assert (tmp_path / LOCK_FILE).read_text().split() == [socket.gethostname(), str(os.getpid())]
        with pytest.raises(RunLockedError, match=f"in use by process {os.getpid()} on this host"):
            RunLock(str(tmp_path)).acquire()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(tmp_path, caplog):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / LOCK_FILE).write_text(f"{socket.gethostname()} {pid}\n")
    with RunLock(str(tmp_path)):
        assert (tmp_path / LOCK_FILE).read_text().split()[1] == str(os.getpid())
    assert f"left by process {pid}" in caplog.text


def test_a_lock_of_another_host_is_refused_and_says_how_to_clear_it(tmp_path):
    (tmp_path / LOCK_FILE).write_text("another-host 12345\n")
    with pytest.raises(RunLockedError, match="process 12345 on host another-host.*delete the lock file"):
        RunLock(str(tmp_path)).acquire()
