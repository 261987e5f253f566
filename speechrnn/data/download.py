"""Download Speech Commands (v1, v2, the v2 test set): resumable, SHA-256 checked, atomic extraction.

* The archive downloads to ``<name>.part`` next to its final place; an interrupted download resumes
  with an HTTP ``Range`` request (a server that ignores ``Range`` and answers 200 makes it start
  over), and a dropped connection is retried a few times within one call.
* The finished file is checked against its published SHA-256; a mismatch deletes it.
* Extraction goes into a temporary folder next to the target, which gets a completion marker and is
  then renamed into place: a half-extracted folder is never taken as a dataset. Members that would
  land outside the folder (absolute paths, ``..``, links) are refused.
* When the marked folder exists, nothing touches the network.

Where: ``data_dir`` argument, else ``$SPEECHRNN_DATA_DIR``, else the platform's user cache dir
(``$XDG_CACHE_HOME/speechrnn`` or ``~/.cache/speechrnn`` on Linux). Base URL: ``base_url``
argument, else ``$SPEECHRNN_DOWNLOAD_URL`` (mirrors, tests), else the official address.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from speechrnn.errors import DataError
from speechrnn.events import CancelToken, EventStream, Finished, Message, Progress, Stage

OFFICIAL_BASE_URL = "http://download.tensorflow.org/data/"
ENV_DATA_DIR = "SPEECHRNN_DATA_DIR"
ENV_BASE_URL = "SPEECHRNN_DOWNLOAD_URL"
APP_DIR_NAME = "speechrnn"
COMPLETE_MARKER = ".speechrnn-complete"  # written into a dataset folder only after full extraction
CHUNK_BYTES = 1 << 20  # read/hash granularity (1 MiB)
PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress events per second
MAX_RETRIES = 3  # reconnect attempts per call after a dropped connection
TIMEOUT_S = 60.0  # socket timeout for one read
HTTP_PARTIAL_CONTENT = 206
HTTP_RANGE_NOT_SATISFIABLE = 416


@dataclass(frozen=True)
class Archive:
    """One downloadable dataset archive and where it is extracted (``folder`` under the data dir)."""

    name: str
    filename: str
    sha256: str
    size_bytes: int
    folder: str


# SHA-256 and sizes as published by tensorflow_datasets (url_checksums/speech_commands.txt) for v2
# and the v2 test set, and by torchaudio (datasets/speechcommands.py) for v1; v1's size is from
# TensorFlow's own download log.
ARCHIVES = {
    "v1": Archive("v1", "speech_commands_v0.01.tar.gz",
                  "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d", 1488293908,
                  "speech_commands_v0.01"),
    "v2": Archive("v2", "speech_commands_v0.02.tar.gz",
                  "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58", 2428923189,
                  "speech_commands_v0.02"),
    "v2-test": Archive("v2-test", "speech_commands_test_set_v0.02.tar.gz",
                       "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df", 112563277,
                       "speech_commands_test_set_v0.02"),
}


def user_cache_dir() -> Path:
    """The platform's per-user cache folder for speechrnn."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / APP_DIR_NAME / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_DIR_NAME
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / APP_DIR_NAME


def default_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else ``$SPEECHRNN_DATA_DIR``, else the user cache dir."""
    chosen = data_dir or os.environ.get(ENV_DATA_DIR)
    return Path(chosen).expanduser() if chosen else user_cache_dir()


def default_cache_dir(data_dir: str | Path | None = None) -> Path:
    """Where decoded waveforms and features are cached: ``<data dir>/cache``."""
    return default_data_dir(data_dir) / "cache"


def archive_for(version: str) -> Archive:
    if version not in ARCHIVES:
        raise DataError(f"unknown Speech Commands version {version!r} (choose from {', '.join(ARCHIVES)})")
    return ARCHIVES[version]


def dataset_dir(archive: Archive, data_dir: str | Path | None = None) -> Path:
    return default_data_dir(data_dir) / archive.folder


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE_MARKER).is_file()


def download(version: str, data_dir: str | Path | None = None, base_url: str | None = None,
             cancel: CancelToken | None = None) -> EventStream:
    """Make Speech Commands ``version`` ("v1", "v2", "v2-test") available; ``Finished(folder)``."""
    yield from download_archive(archive_for(version), data_dir, base_url, cancel)


def download_archive(archive: Archive, data_dir: str | Path | None = None, base_url: str | None = None,
                     cancel: CancelToken | None = None, keep_archive: bool = False) -> EventStream:
    """Download, verify and extract ``archive`` unless its folder is already complete."""
    cancel = cancel or CancelToken()
    root = default_data_dir(data_dir)
    target = root / archive.folder
    if is_complete(target):
        yield Finished(target)
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{root}: cannot create the data folder ({exc.strerror or exc})") from None
    path = root / archive.filename
    if not path.is_file():
        url = (base_url or os.environ.get(ENV_BASE_URL) or OFFICIAL_BASE_URL).rstrip("/") + "/" + archive.filename
        yield Stage("download", f"Downloading {url} into {root}")
        yield from _fetch(url, path, archive.size_bytes, cancel)
    yield Stage("verify", f"Checking the SHA-256 of {path.name}")
    yield from _verify(path, archive.sha256, cancel)
    yield Stage("extract", f"Extracting {path.name} into {target}")
    yield from _extract(path, target, cancel)
    if not keep_archive:
        path.unlink(missing_ok=True)
    yield Message(f"Speech Commands {archive.name} is ready in {target}")
    yield Finished(target)


def _open(url: str, start: int) -> "urllib.response.addinfourl":
    request = urllib.request.Request(url, headers={"User-Agent": f"{APP_DIR_NAME}-downloader"})
    if start > 0:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)


def _fetch(url: str, path: Path, expected_bytes: int | None, cancel: CancelToken) -> EventStream:
    """Download ``url`` to ``path`` through ``path.part``, resuming what a previous try left there."""
    part = path.with_name(path.name + ".part")
    retries = 0
    while True:
        try:
            yield from _fetch_once(url, part, expected_bytes, cancel)
            break
        except (ConnectionError, TimeoutError, http.client.HTTPException, _Truncated) as exc:
            retries += 1
            if retries > MAX_RETRIES:
                raise DataError(f"{url}: download interrupted ({exc}); run the same command again to resume") from None
            yield Message(f"connection lost at {_size_of(part) / 1e6:.1f} MB ({exc}); resuming", level="warning")
        except urllib.error.HTTPError as exc:
            raise DataError(f"{url}: server answered HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise DataError(f"{url}: cannot download ({exc.reason})") from None
        except OSError as exc:  # connection problems were caught above: this is the local disk
            raise DataError(f"{part}: cannot write the download ({exc.strerror or exc})") from None
    os.replace(part, path)


class _Truncated(Exception):
    """The server closed the connection before sending everything it announced."""


def _size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _fetch_once(url: str, part: Path, expected_bytes: int | None, cancel: CancelToken) -> EventStream:
    start = _size_of(part)
    try:
        response = _open(url, start)
    except urllib.error.HTTPError as exc:
        if exc.code == HTTP_RANGE_NOT_SATISFIABLE and start > 0:
            # Either the .part is already complete or it is junk: the checksum decides; a
            # mismatch deletes it so the next call starts afresh.
            return
        raise
    with response:
        resumed = start > 0 and response.status == HTTP_PARTIAL_CONTENT
        if start > 0 and not resumed:
            start = 0  # the server ignored Range and sends the whole file: start over
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else expected_bytes
        done = start
        last_report = 0.0
        with open(part, "ab" if resumed else "wb") as out:
            while True:
                cancel.check()
                chunk = response.read(CHUNK_BYTES)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                now = time.monotonic()
                if now - last_report >= PROGRESS_INTERVAL_S:
                    last_report = now
                    yield Progress("download", done, total, unit="B")
    yield Progress("download", done, total, unit="B")
    if length is not None and done < total:
        raise _Truncated(f"got {done} of {total} bytes")


def sha256_of(path: Path, cancel: CancelToken | None = None) -> EventStream:
    """SHA-256 hex digest of a file, with progress; ``Finished(digest)``."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    last_report = 0.0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            if cancel is not None:
                cancel.check()
            digest.update(chunk)
            done += len(chunk)
            if time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
                last_report = time.monotonic()
                yield Progress("verify", done, total, unit="B")
    yield Finished(digest.hexdigest())


def _verify(path: Path, expected: str, cancel: CancelToken) -> EventStream:
    actual = None
    for event in sha256_of(path, cancel):
        if isinstance(event, Finished):
            actual = event.result
        else:
            yield event
    if actual != expected.lower():
        path.unlink(missing_ok=True)
        raise DataError(f"{path}: SHA-256 mismatch (expected {expected}, got {actual}); "
                        "the file was deleted, run the command again to download it afresh")


def _safe_members(tar: tarfile.TarFile, destination: Path, archive_path: Path):
    """Members with their checks: paths stay inside ``destination``, links point inside too."""
    for member in tar:
        try:
            yield tarfile.data_filter(member, str(destination))
        except tarfile.FilterError as exc:
            raise DataError(f"{archive_path}: unsafe entry {member.name!r} in the archive ({exc})") from None


def _extract(archive_path: Path, target: Path, cancel: CancelToken) -> EventStream:
    parent = target.parent
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.extracting-", dir=parent))
    except OSError as exc:
        raise DataError(f"{parent}: cannot create a folder to extract into ({exc.strerror or exc})") from None
    try:
        total = archive_path.stat().st_size
        last_report = 0.0
        with open(archive_path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as tar:
            for member in _safe_members(tar, temp, archive_path):
                cancel.check()
                tar.extract(member, temp, filter="fully_trusted")  # already checked by data_filter
                if time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
                    last_report = time.monotonic()
                    yield Progress("extract", raw.tell(), total, unit="B")
        yield Progress("extract", total, total, unit="B")
        root = _dataset_root(temp)
        (root / COMPLETE_MARKER).write_text("extracted by speechrnn\n")
        if target.exists():
            shutil.rmtree(target)  # an unmarked leftover in our own cache folder
        os.rename(root, target)
    except (tarfile.TarError, EOFError) as exc:
        archive_path.unlink(missing_ok=True)
        raise DataError(f"{archive_path}: archive is damaged ({exc}); deleted, run the command again") from None
    except OSError as exc:
        raise DataError(f"{target}: cannot extract ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _dataset_root(extracted: Path) -> Path:
    """The extracted folder itself, or its only sub-folder when the archive wraps everything in one."""
    entries = [p for p in extracted.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and any(p.is_dir() for p in entries[0].iterdir()):
        return entries[0]  # a wrapper folder holding the label folders
    return extracted
