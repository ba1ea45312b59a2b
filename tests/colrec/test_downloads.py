"""Downloads are checksum-verified and cached; served from a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from colrec.downloads import Archive, fetch
from colrec.errors import ColrecError


def _zip(folder: str, files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, body in files.items():
            zf.writestr(f"{folder}/{name}", body)
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    payload = _zip("ml-100k", {"u.data": "1\t1\t5\t1\n", "u.item": "x", "u.user": "y"})
    root = tmp_path / "www"
    root.mkdir()
    (root / "ml-100k.zip").write_bytes(payload)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ml-100k.zip", payload
    finally:
        server.shutdown()


def _archive(url: str, md5: str) -> Archive:
    return Archive(name="ml-100k", url=url, md5=md5, folder="ml-100k", required=("u.data", "u.item", "u.user"))


def test_fetch_verifies_extracts_and_caches(served: tuple[str, bytes], tmp_path: Path) -> None:
    url, payload = served
    archive = _archive(url, hashlib.md5(payload).hexdigest())
    folder = fetch(archive, tmp_path / "cache")
    assert (folder / "u.data").read_text() == "1\t1\t5\t1\n"
    # cached: a second fetch needs no server
    assert fetch(_archive("http://127.0.0.1:1/gone.zip", archive.md5), tmp_path / "cache") == folder


def test_checksum_mismatch_keeps_nothing(served: tuple[str, bytes], tmp_path: Path) -> None:
    url, _ = served
    with pytest.raises(ColrecError, match="checksum mismatch"):
        fetch(_archive(url, "0" * 32), tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ColrecError, match=r"cannot download http://127\.0\.0\.1:1/x\.zip"):
        fetch(_archive("http://127.0.0.1:1/x.zip", "0" * 32), tmp_path / "cache", timeout=5)
