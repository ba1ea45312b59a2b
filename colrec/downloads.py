"""Public datasets fetched on demand: checksum-verified, cached under the data dir, extracted atomically."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from colrec.errors import ColrecError


@dataclass(frozen=True)
class Archive:
    name: str
    url: str
    md5: str
    folder: str  # the folder inside the zip
    required: tuple[str, ...]  # files that make a usable copy


ML_100K = Archive(
    name="ml-100k",
    url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    md5="0e33842e24a9c977be4e0107933c0723",  # GroupLens' published ml-100k.zip.md5
    folder="ml-100k",
    required=("u.data", "u.item", "u.user"),
)


def has_files(folder: Path, archive: Archive) -> bool:
    return all((folder / name).is_file() for name in archive.required)


def fetch(archive: Archive, cache_dir: Path, timeout: float = 30.0, url: str | None = None) -> Path:
    """The archive's folder under cache_dir, downloaded (from `url`, default the archive's own) and
    checksum-verified first if it is not there."""
    url = url or archive.url
    target = cache_dir / archive.name
    if has_files(target, archive):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        zip_path = Path(tmp) / f"{archive.name}.zip"
        _download(url, zip_path, timeout)
        digest = hashlib.md5(zip_path.read_bytes()).hexdigest()
        if digest != archive.md5:
            raise ColrecError(f"{url}: checksum mismatch (md5 {digest}, expected {archive.md5}); not used")
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        extracted = Path(tmp) / archive.folder
        if not has_files(extracted, archive):
            raise ColrecError(f"{url}: archive lacks {', '.join(archive.required)}")
        shutil.rmtree(target, ignore_errors=True)
        extracted.rename(target)
    return target


def _download(url: str, dest: Path, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, dest.open("wb") as fh:
            shutil.copyfileobj(response, fh)
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ColrecError(f"cannot download {url} ({reason})") from None
