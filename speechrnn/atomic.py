"""Write a file so that readers only ever see the old or the complete new version."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from speechrnn.errors import SpeechRNNError

# The process's file-creation mask, read once at import (reading it means setting it briefly).
_UMASK = os.umask(0)
os.umask(_UMASK)
NEW_FILE_MODE = 0o666 & ~_UMASK  # what open() would give a new file; mkstemp alone gives 0600


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    ``with atomic_path(target) as tmp: write(tmp)`` -- the folder is created if missing.
    """
    path = Path(path)
    if path.is_dir():
        raise SpeechRNNError(f"{path}: is a folder, not a file name to write")
    tmp = _temp_beside(path)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:  # on disk before the rename: a crash leaves old or new, never empty
            os.fsync(handle.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise SpeechRNNError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _temp_beside(path: Path, shown: Path | None = None) -> Path:
    """An empty new file in ``path``'s folder (created if missing); a one-line error naming ``shown``
    (default ``path``) where that is impossible."""
    existing = next((p for p in path.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise SpeechRNNError(f"{shown or path}: cannot write here ({existing} is a file, not a folder)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SpeechRNNError(f"{shown or path}: cannot write here ({exc.strerror or exc})") from None
    try:
        os.fchmod(fd, NEW_FILE_MODE)
    finally:
        os.close(fd)
    return Path(name)


def check_writable_file(path: str | Path) -> Path:
    """Fail now, before long work, if ``path`` could not be written later (a one-line error).

    Creates a temporary file beside ``path`` (and the missing folders); all removed at once, the
    file itself is not touched.
    """
    path = Path(path)
    if path.is_dir():
        raise SpeechRNNError(f"{path}: is a folder, not a file name to write")
    _probe(path, path)
    return path


def _probe(path: Path, shown: Path) -> None:
    """Create and remove a temporary file beside ``path``, and the folders that were missing for it."""
    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    _temp_beside(path, shown).unlink()
    for folder in missing:  # deepest first
        try:
            folder.rmdir()
        except OSError:  # something else put a file there meanwhile: leave it
            break


def check_writable_folder(folder: str | Path) -> Path:
    """Fail now, before long work, if files could not be written into ``folder`` (created if missing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SpeechRNNError(f"{folder}: is a file, not a folder")
    _probe(folder / "probe", folder)
    return folder


def write_text_atomic(path: str | Path, text: str) -> Path:
    """``path.write_text(text)`` (UTF-8), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


HOLD_FILE_NAME = ".in-use"  # the file a held folder is locked through


@contextlib.contextmanager
def hold_folder(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold ``folder`` for one writer: a second process that asks for it while this one holds it gets
    a one-line error naming ``what`` to change, instead of both writing the same files (the later
    writer's files read back by the earlier one). The hold is an OS file lock, so it ends with the
    process however the process ends; where the OS has no such lock (Windows), nothing is held."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs side by side are a POSIX bench habit
        yield folder
        return
    with open(folder / HOLD_FILE_NAME, "w") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpeechRNNError(f"{folder}: another build is writing there right now; {what}") from None
        yield folder  # closing the file releases the lock
