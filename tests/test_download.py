"""The real downloader against an HTTP server on 127.0.0.1 serving an archive made here.

The server can drop the connection half-way, ignore ``Range`` requests, and counts every request,
so resuming, restarting, checksum failures and "already there: no network" are all observed.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import speechrnn.data.download as dl
from speechrnn.cli.main import main as cli_main
from speechrnn.data.cache import prepare_data
from speechrnn.data.download import COMPLETE_MARKER, Archive, download, download_archive
from speechrnn.data.layout import scan_folder
from speechrnn.data.spec import DataSpec
from speechrnn.errors import DataError
from speechrnn.events import CancelToken, Cancelled, Finished, Progress, Stage, run_to_end
from test_data_layout import FEATURES, make_dataset

WORDS = ("yes", "no", "up")


class Server:
    """Serves ``files`` (name -> bytes); ``drop_after`` bytes on the first request, ``honour_range``."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        self.drop_after: int | None = None
        self.honour_range = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                start = 0
                range_header = self.headers.get("Range")
                if range_header and server.honour_range:
                    start = int(range_header.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.drop_after is not None:
                    cut, server.drop_after = server.drop_after, None
                    self.wfile.write(body[start:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return  # connection closes early: the client sees a short body
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_archive(root: Path, wrap: str | None = None) -> bytes:
    """tar.gz of a Speech Commands-layout folder (entries ``./<label>/...`` like the real one)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(root.rglob("*")):
            name = (f"{wrap}/" if wrap else "./") + path.relative_to(root).as_posix()
            tar.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


@pytest.fixture
def archive_bytes(tmp_path) -> bytes:
    source = make_dataset(tmp_path / "source", WORDS, speakers=6, noise=True)
    (source / "validation_list.txt").write_text("yes/spk000_nohash_0.wav\n")
    return make_archive(source)


def archive_for(body: bytes, name: str = "sc_test.tar.gz") -> Archive:
    return Archive("test", name, hashlib.sha256(body).hexdigest(), len(body), "sc_test")


@pytest.fixture
def small_chunks(monkeypatch):
    """Many progress events and cancel points even for a small archive."""
    monkeypatch.setattr(dl, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(dl, "PROGRESS_INTERVAL_S", 0.0)


def check_dataset(folder: Path) -> None:
    assert (folder / COMPLETE_MARKER).is_file()
    assert sorted({c.label for c in scan_folder(folder)}) == sorted(WORDS)
    assert (folder / "_background_noise_" / "white.wav").is_file()
    assert (folder / "validation_list.txt").is_file()


def test_download_verifies_extracts_and_reports_progress_in_bytes(archive_bytes, tmp_path):
    archive = archive_for(archive_bytes)
    with Server({archive.filename: archive_bytes}) as server:
        events = list(download_archive(archive, tmp_path / "data", server.url))
    folder = events[-1].result
    assert folder == tmp_path / "data" / "sc_test"
    check_dataset(folder)
    stages = [e.name for e in events if isinstance(e, Stage)]
    assert stages == ["download", "verify", "extract"]
    last = [e for e in events if isinstance(e, Progress) and e.stage == "download"][-1]
    assert last.unit == "B" and last.done == last.total == len(archive_bytes)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["sc_test"]  # archive and temp dirs gone


def test_dropped_connection_is_resumed_with_a_range_request(archive_bytes, tmp_path):
    archive = archive_for(archive_bytes)
    half = len(archive_bytes) // 2
    with Server({archive.filename: archive_bytes}) as server:
        server.drop_after = half
        folder = run_to_end(download_archive(archive, tmp_path / "data", server.url))
    check_dataset(folder)
    assert [r for _, r in server.requests] == [None, f"bytes={half}-"]


def test_interrupted_download_resumes_in_the_next_call(archive_bytes, tmp_path, small_chunks):
    archive = archive_for(archive_bytes)
    token = CancelToken()
    with Server({archive.filename: archive_bytes}) as server:
        with pytest.raises(Cancelled):
            for event in download_archive(archive, tmp_path / "data", server.url, cancel=token):
                if isinstance(event, Progress) and event.done >= 3 * 4096:
                    token.cancel()
        part = tmp_path / "data" / (archive.filename + ".part")
        kept = part.stat().st_size
        assert 0 < kept < len(archive_bytes)
        assert not (tmp_path / "data" / "sc_test").exists()
        folder = run_to_end(download_archive(archive, tmp_path / "data", server.url))
    check_dataset(folder)
    assert server.requests[-1] == (archive.filename, f"bytes={kept}-")


def test_server_that_ignores_range_restarts_from_zero(archive_bytes, tmp_path):
    archive = archive_for(archive_bytes)
    data = tmp_path / "data"
    data.mkdir()
    (data / (archive.filename + ".part")).write_bytes(b"stale bytes that must not be kept" * 10)
    with Server({archive.filename: archive_bytes}) as server:
        server.honour_range = False
        folder = run_to_end(download_archive(archive, data, server.url))
    check_dataset(folder)
    assert server.requests == [(archive.filename, "bytes=330-")]


def test_wrong_checksum_deletes_the_file_and_says_so(archive_bytes, tmp_path):
    archive = replace(archive_for(archive_bytes), sha256="0" * 64)
    with Server({archive.filename: archive_bytes}) as server:
        with pytest.raises(DataError) as error:
            run_to_end(download_archive(archive, tmp_path / "data", server.url))
    message = str(error.value)
    assert "SHA-256 mismatch" in message and archive.filename in message and "\n" not in message
    assert list((tmp_path / "data").iterdir()) == []


def test_data_already_there_touches_no_network(archive_bytes, tmp_path):
    archive = archive_for(archive_bytes)
    with Server({archive.filename: archive_bytes}) as server:
        first = run_to_end(download_archive(archive, tmp_path / "data", server.url))
        server.requests.clear()
        events = list(download_archive(archive, tmp_path / "data", server.url))
        assert server.requests == []
    assert events == [Finished(first)]
    # Not even a server is needed (nothing listens on port 9 here).
    assert run_to_end(download_archive(archive, tmp_path / "data", "http://127.0.0.1:9/")) == first


def test_half_extracted_folder_is_never_taken_as_the_dataset(archive_bytes, tmp_path, small_chunks):
    archive = archive_for(archive_bytes)
    token = CancelToken()
    with Server({archive.filename: archive_bytes}) as server:
        with pytest.raises(Cancelled):
            for event in download_archive(archive, tmp_path / "data", server.url, cancel=token):
                if isinstance(event, Progress) and event.stage == "extract":
                    token.cancel()
        assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [archive.filename]  # no folders
        server.requests.clear()
        folder = run_to_end(download_archive(archive, tmp_path / "data", server.url))
        assert server.requests == []  # the verified archive was kept: no second download
    check_dataset(folder)


def test_unmarked_leftover_folder_is_replaced(archive_bytes, tmp_path):
    archive = archive_for(archive_bytes)
    leftover = tmp_path / "data" / "sc_test"
    (leftover / "yes").mkdir(parents=True)
    (leftover / "yes" / "partial.wav").write_bytes(b"half")
    with Server({archive.filename: archive_bytes}) as server:
        folder = run_to_end(download_archive(archive, tmp_path / "data", server.url))
    check_dataset(folder)
    assert not (folder / "yes" / "partial.wav").exists()


def test_archive_entries_escaping_the_folder_are_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("./yes/a_nohash_0.wav", "../escaped.wav"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"RIFF"))
    body = buffer.getvalue()
    archive = archive_for(body)
    with Server({archive.filename: body}) as server:
        with pytest.raises(DataError, match="unsafe entry '../escaped.wav'"):
            run_to_end(download_archive(archive, tmp_path / "data", server.url))
    assert not (tmp_path / "escaped.wav").exists()
    assert not (tmp_path / "data" / "sc_test").exists()
    assert not [p for p in (tmp_path / "data").iterdir() if p.is_dir()]


def test_http_errors_are_one_line(tmp_path):
    archive = Archive("test", "missing.tar.gz", "0" * 64, 1, "missing")
    with Server({}) as server:
        with pytest.raises(DataError, match="HTTP 404"):
            run_to_end(download_archive(archive, tmp_path / "data", server.url))


def test_unknown_version_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="unknown Speech Commands version 'v3'"):
        run_to_end(download("v3", tmp_path))


@pytest.fixture
def fake_v2(archive_bytes, monkeypatch):
    """The official v2 entry, pointing at the test archive (same name and folder, its checksum)."""
    official = dl.ARCHIVES["v2"]
    archive = replace(official, sha256=hashlib.sha256(archive_bytes).hexdigest(), size_bytes=len(archive_bytes))
    monkeypatch.setitem(dl.ARCHIVES, "v2", archive)
    return archive


def test_speech_commands_source_downloads_within_prepare_data(archive_bytes, fake_v2, tmp_path, monkeypatch):
    with Server({fake_v2.filename: archive_bytes}) as server:
        monkeypatch.setenv(dl.ENV_BASE_URL, server.url)
        spec = DataSpec(("speech-commands:v2",), data_dir=str(tmp_path / "data"))
        events = list(prepare_data(spec, FEATURES, tmp_path / "cache"))
        assert [name for name, _ in server.requests] == [fake_v2.filename]
    assert [e.name for e in events if isinstance(e, Stage)][:4] == ["data", "download", "verify", "extract"]
    data = events[-1].result
    assert data.labels == sorted(WORDS)
    assert data.description["sources"][0]["name"] == "speech-commands:v2"
    assert [c.path.name for c in data.validation.clips if c.label == "yes"] == ["spk000_nohash_0.wav"]
    assert len(data.noise) == 1


def test_cli_download_then_nothing_to_do(archive_bytes, fake_v2, tmp_path, monkeypatch, capsys):
    with Server({fake_v2.filename: archive_bytes}) as server:
        argv = ["download", "speech-commands", "--version", "v2", "--data-dir", str(tmp_path / "data"),
                "--base-url", server.url, "--quiet"]
        assert cli_main(argv) == 0
        assert Path(capsys.readouterr().out.strip()) == tmp_path / "data" / fake_v2.folder
        assert cli_main(argv) == 0
        assert len(server.requests) == 1
    monkeypatch.setenv(dl.ENV_DATA_DIR, str(tmp_path / "env_data"))
    with Server({}) as empty:
        assert cli_main(["download", "speech-commands", "--base-url", empty.url, "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "HTTP 404" in error
