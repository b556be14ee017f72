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
    """An exclusive lock on an output folder, held while a run writes to it. The lock is a POSIX record lock
    (lockf) on OUT/run.lock, which holds the holder's pid: the kernel releases it when the holder dies (even by
    kill -9), so a lock file left by a dead process is simply taken over. Unlike flock, a record lock is not
    shared with the worker processes the run forks, so it is gone the moment the run itself is."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self.fh = None

    def acquire(self) -> "OutputLock":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
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
            fh.close()  # closing releases the lock

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_empty_file(path: Path) -> None:
    """An empty file with the mode the umask gives (0644 under the usual 022), as any other output."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _replace_with_symlink(target: str, link: Path) -> None:
    """Point `link` at `target` in one step (a symlink made beside it, renamed over it)."""
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def current_generation(out_dir: Path) -> Optional[str]:
    """The id of the generation OUT/current points at, or None (a folder never published, or an older layout)."""
    try:
        target = os.readlink(Path(out_dir) / CURRENT)
    except OSError:
        return None
    return Path(target).name


def current_folder(out_dir: Path) -> Path:
    """The folder holding the published set, resolved once: a reader that opens every file through it sees one
    set even while a run publishes the next. An output folder of the older layout is its own set."""
    gen = current_generation(out_dir)
    return Path(out_dir) / GENERATIONS / gen if gen else Path(out_dir)


def clear_unpublished(out_dir: Path, keep: tuple[Optional[str], ...] = ()) -> None:
    """Remove generation folders other than the current one and `keep` (left by a killed or failed run, or
    replaced). Called under the folder's lock."""
    folder = Path(out_dir) / GENERATIONS
    if not folder.is_dir():
        return
    kept = {current_generation(out_dir), *keep}
    for gen in folder.iterdir():
        if gen.name not in kept:
            shutil.rmtree(gen, ignore_errors=True)
    for stale in Path(out_dir).glob(".*.tmp"):  # symlinks or files of a run killed while publishing
        stale.unlink(missing_ok=True)


class Generation:
    """One run's set of outputs, written into a fresh folder OUT/generations/ID and published by `commit()`:
    the pointer OUT/current is switched to it in one rename, so a reader of OUT/NAME sees the previous set or
    this one, never a mix, whatever moment a crash or kill -9 strikes. The public names OUT/NAME are symbolic
    links to current/NAME, made once. The previous generation is kept until the next run (a reader may still
    be in it); older ones go. Same interface as export.StagedOutputs: `temp(name)`, `write_text`, `temps`."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.gen_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        self.folder = self.out_dir / GENERATIONS / self.gen_id
        self.temps: dict[str, str] = {}  # public name → its file in this generation, in the order written
        self.published = False

    def temp(self, name: str) -> str:
        """The (new, empty) file of output `name` in this generation."""
        from pipeline.export import ExportError

        path = self.folder / name
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _new_empty_file(path)
        except OSError as exc:
            raise ExportError(f"{self.out_dir / name}: cannot write output: {exc.strerror or exc}") from None
        self.temps[name] = str(path)
        return str(path)

    def write_text(self, name: str, write) -> None:
        """Call write(fh) on the file of output `name` and fsync it."""
        from pipeline.export import write_synced

        write_synced(self.temp(name), self.out_dir / name, write)

    def commit(self) -> None:
        """Publish: fsync the generation, switch OUT/current to it, make the public links that are missing (an
        older layout's plain files are replaced by links, once), drop generations older than the previous."""
        from pipeline.export import ExportError

        previous = current_generation(self.out_dir)
        try:
            _fsync_folder(self.folder)
            _replace_with_symlink(f"{GENERATIONS}/{self.gen_id}", self.out_dir / CURRENT)
            self.published = True
            for name in self.temps:
                link, target = self.out_dir / name, f"{CURRENT}/{name}"
                if not (link.is_symlink() and os.readlink(link) == target):
                    _replace_with_symlink(target, link)
            _fsync_folder(self.out_dir)
        except OSError as exc:
            raise ExportError(f"{self.out_dir / CURRENT}: cannot publish the outputs: {exc.strerror or exc}") from None
        clear_unpublished(self.out_dir, keep=(previous,))

    def discard(self) -> None:
        """Remove this generation's files unless it was published. Never raises: it runs while an error unwinds."""
        if not self.published:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Generation":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()
        return False
