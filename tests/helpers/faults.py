"""Faults to inject into writes: a disk that fills up, Ctrl-C where Python would swallow it."""

from __future__ import annotations

import errno
import os
import signal
import time


class FullDisk:
    """A binary file whose writes fail with ENOSPC once ``room`` bytes are used; patch it in
    as ``sugar_core.outputs.open`` (what ``GuardedFile`` opens with)."""

    ROOM = 30_000

    def __init__(self, path, mode, buffering=-1, room: int | None = None):
        self.fh = open(path, mode, buffering=0)  # noqa: SIM115 - closed through __getattr__
        self.room = self.ROOM if room is None else room

    def write(self, data):
        if self.fh.tell() + memoryview(data).nbytes > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)


class InterruptOnCollect:
    """Sends Ctrl-C from ``__del__``: where HDF5's clean-up callbacks receive it, and where
    Python ignores a KeyboardInterrupt (a write would finish and exit 0)."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here, inside __del__
