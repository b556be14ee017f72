"""An output folder's guarantees: one writer at a time (OUT/run.lock), and outputs published as one set (each
run writes a fresh OUT/generations/ID folder, then one pointer, OUT/current, is switched to it atomically; the
public names OUT/documents.jsonl, OUT/passages.csv … are fixed links through that pointer)."""
from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Optional

LOCK_NAME = "run.lock"
GENERATIONS = "generations"
CURRENT = "current"


class FolderBusy(RuntimeError):
    """Another run holds the output folder's lock."""


class OutputLock:
    """An exclusive lock on an output folder, held while a run writes to it. The lock is an flock on OUT/run.lock,
    which holds the holder's pid: the kernel releases it when the holder dies (even by kill -9), so a lock file
    left by a dead process is simply taken over."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self.fh = None

    def acquire(self) -> "OutputLock":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise FolderBusy(f"{self.out_dir}: another run (pid {holder}) is writing to this folder; wait for it "
                             f"to finish or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self.fh = fh
        return self

    def release(self) -> None:
        if self.fh is not None:
            fh, self.fh = self.fh, None
            try:
                fh.seek(0)
                fh.truncate()  # no pid: nobody holds it
            except OSError:
                pass
            fh.close()  # closing releases the flock

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False
