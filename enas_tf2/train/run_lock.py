"""One writer per run folder: a lock file in `--output_dir` holding the owner's host and pid.

Two processes writing one run folder overwrite each other's checkpoints, events and logs.
`RunLock` creates `<output_dir>/.lock` with `O_CREAT | O_EXCL` (atomic on local file systems),
writes `host pid` into it and removes it when the run ends. A second process gets an error
naming the holder; a lock whose process is gone on this host (a SIGKILL, a crash) is taken over
with a warning. A lock from another host cannot be checked from here: the error says how to
remove it once that run is known to be dead.
"""

from __future__ import annotations

import errno
import os
import socket

from absl import logging

from enas_tf2.errors import FlagError

LOCK_FILE = ".lock"


class RunLockedError(FlagError):
    """Another process holds the run folder."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


class RunLock:
    """The lock of one run folder (create the folder first).

    Args:
        output_dir: the run folder.
    """

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, LOCK_FILE)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._held = False

    def _read(self) -> tuple[str, int] | None:
        try:
            with open(self.path) as f:
                host, pid = f.read().split()
            return host, int(pid)
        except (OSError, ValueError):
            return None

    def acquire(self) -> "RunLock":
        """Takes the lock, or raises `RunLockedError` naming the process that has it."""
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except OSError as error:
                if error.errno != errno.EEXIST:
                    raise FlagError(f"Cannot create the lock {self.path} ({error.strerror}); give an --output_dir "
                                    "you can write to.") from None
                holder = self._read()
                if holder is None:
                    # Being written this instant, or garbage: garbage from a dead writer is taken over below.
                    holder = ("?", -1)
                host, pid = holder
                if host == self.host and (pid == -1 or not _process_alive(pid)):
                    logging.warning("Taking over the lock %s left by process %s on %s, which is no longer running.",
                                    self.path, pid, host)
                    try:
                        os.remove(self.path)
                    except FileNotFoundError:
                        pass
                    continue
                where = "this host" if host == self.host else f"host {host}"
                raise RunLockedError(
                    f"{os.path.dirname(self.path) or '.'} is in use by process {pid} on {where} ({self.path}). Wait "
                    "for that run to end, or give another --output_dir. If that process is dead, delete the lock file."
                )
            with os.fdopen(fd, "w") as f:
                f.write(f"{self.host} {self.pid}\n")
            self._held = True
            return self
        raise RunLockedError(f"Could not take the lock {self.path}: another process keeps taking it.")

    def release(self) -> None:
        if self._held and self._read() == (self.host, self.pid):
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
        self._held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
