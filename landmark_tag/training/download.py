"""Fetch the 50-class landmark dataset: resumable download, integrity check, safe extraction.

The archive is downloaded to `<dest>/<name>.part`, resumed with an HTTP Range request after an
interruption, checked (size and every member's CRC) before anything is extracted, and extracted
only if no member would land outside `dest`. A marker file makes a second run a no-op.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from landmark_tag.errors import LandmarkTagError
from landmark_tag.paths import default_data_dir

DEFAULT_URL = "https://udacity-dlnfd.s3-us-west-1.amazonaws.com/datasets/landmark_images.zip"
_MARKER = ".landmark-tag-complete"
_CHUNK = 1 << 20

# Called with (bytes done, total bytes or None).
ByteProgress = Callable[[int, "int | None"], None]


class DownloadError(LandmarkTagError):
    """The dataset could not be downloaded, verified or extracted."""


def _archive_name(url: str) -> str:
    return Path(urlparse(url).path).name or "dataset.zip"


def _fetch(url: str, part: Path, progress: ByteProgress | None, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range not satisfiable: the part file is already whole
            return
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url}: {reason}") from None
    with response:
        if have and response.status != 206:  # the server ignored Range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as sink:
            done = have
            try:
                while chunk := response.read(_CHUNK):
                    sink.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            except OSError as exc:
                raise DownloadError(
                    f"download interrupted after {done:,} bytes ({exc}); run again to resume"
                ) from None
    if total is not None and done != total:
        raise DownloadError(f"download incomplete: {done:,} of {total:,} bytes; run again to resume")


def _verify(archive: Path) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(archive) as bundle:
            broken = bundle.testzip()
            members = bundle.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DownloadError(f"{archive.name} is not a complete zip archive ({exc})") from None
    if broken is not None:
        raise DownloadError(f"{archive.name} is corrupt: member {broken} fails its CRC check")
    return members


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract `archive` into `dest`, refusing the whole archive if any member escapes `dest`."""
    root = dest.resolve()
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            target = (root / member.filename).resolve()
            if member.filename.startswith(("/", "\\")) or not target.is_relative_to(root):
                raise DownloadError(f"refusing to extract {member.filename!r}: it would land outside {dest}")
        bundle.extractall(root)


def dataset_root(dest: Path) -> Path:
    """The folder with `train/` (and usually `test/`) inside an extracted archive."""
    for candidate in [dest, *sorted(p for p in dest.iterdir() if p.is_dir())]:
        if (candidate / "train").is_dir():
            return candidate
    raise DownloadError(f"the archive in {dest} has no train/ folder")


def download_dataset(
    dest: str | os.PathLike | None = None,
    url: str = DEFAULT_URL,
    progress: ByteProgress | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download and extract the dataset into `dest` once; return the folder holding train/ and test/."""
    dest = Path(dest) if dest is not None else default_data_dir()
    marker = dest / _MARKER
    if marker.exists():
        return dest / marker.read_text().strip()
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / (_archive_name(url) + ".part")
    _fetch(url, part, progress, timeout)
    try:
        _verify(part)
    except DownloadError:
        part.unlink(missing_ok=True)  # a corrupt file can't be resumed into a good one
        raise
    staging = dest / ".extracting"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        safe_extract(part, staging)
        for item in staging.iterdir():
            if (dest / item.name).is_dir():  # left by an earlier, interrupted extraction
                shutil.rmtree(dest / item.name)
            os.replace(item, dest / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    root = dataset_root(dest)
    marker.write_text(os.path.relpath(root, dest) + "\n")
    part.unlink()
    return root
