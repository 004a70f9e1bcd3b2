"""Fetch the 50-class landmark dataset: resumable download, integrity check, safe extraction.

The archive is downloaded to `<dest>/<name>.part`, resumed with an HTTP Range request after an
interruption, checked (size and every member's CRC) before anything is extracted, and extracted
only if no member would land outside `dest`. A marker file makes a second run a no-op.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from landmark_tag.errors import LandmarkTagError
from landmark_tag.files.paths import default_data_dir

DEFAULT_URL = "https://udacity-dlnfd.s3-us-west-1.amazonaws.com/datasets/landmark_images.zip"
_MARKER = ".landmark-tag-complete"
_OWNED = ".landmark-tag-extracted"  # the top-level names an extraction put into the destination
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
        elif have and _range_start(response.headers.get("Content-Range")) != have:
            # Appending bytes from another offset would corrupt the archive: start over instead.
            response.close()
            part.unlink()
            return _fetch(url, part, progress, timeout)
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


# Photos barely compress: the real archive unpacks to about its own size. Far more means a zip
# bomb. (zipfile never inflates a member past the size its header declares, so the declared sizes
# can be trusted here, before anything is read.)
MAX_EXTRACTED_BYTES = 16 << 30
MAX_EXPANSION = 20


def _range_start(content_range: str | None) -> int | None:
    """The first byte of a `Content-Range: bytes START-END/TOTAL` answer."""
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (content_range or "").strip())
    return int(match.group(1)) if match else None


def _verify(archive: Path) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            unpacked = sum(member.file_size for member in members)
            limit = min(MAX_EXTRACTED_BYTES, MAX_EXPANSION * archive.stat().st_size)
            if unpacked > limit:
                raise DownloadError(
                    f"{archive.name} would unpack to {unpacked:,} bytes, more than the {limit:,} a "
                    f"photo dataset of its size can hold; refusing it"
                )
            broken = bundle.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DownloadError(f"{archive.name} is not a complete zip archive ({exc})") from None
    if broken is not None:
        raise DownloadError(f"{archive.name} is corrupt: member {broken} fails its CRC check")
    return members


def check_members(bundle: zipfile.ZipFile, dest: Path) -> None:
    """Refuse the whole archive if any member would land outside `dest`."""
    root = dest.resolve()
    for member in bundle.infolist():
        target = (root / member.filename).resolve()
        if member.filename.startswith(("/", "\\")) or not target.is_relative_to(root):
            raise DownloadError(f"refusing to extract {member.filename!r}: it would land outside {dest}")


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract `archive` into `dest`, refusing the whole archive if any member escapes `dest`."""
    with zipfile.ZipFile(archive) as bundle:
        check_members(bundle, dest)
        bundle.extractall(dest.resolve())


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
    _extract_into(part, dest)
    root = dataset_root(dest)
    marker.write_text(os.path.relpath(root, dest) + "\n")
    (dest / _OWNED).unlink(missing_ok=True)
    part.unlink()
    return root


def _extract_into(archive: Path, dest: Path) -> None:
    """Extract beside `dest`'s contents, then move the archive's top-level entries into place.

    Nothing in `dest` that this function did not put there is ever replaced or deleted: if the
    archive's top-level names are taken, it refuses before extracting. The names it moves are
    listed in `_OWNED` first, so a rerun after an interruption may replace those, and only those.
    """
    owned_file = dest / _OWNED
    owned = set(owned_file.read_text().split("\n")) - {""} if owned_file.exists() else set()
    with zipfile.ZipFile(archive) as bundle:
        check_members(bundle, dest)
        names = {member.filename.replace("\\", "/").split("/")[0] for member in bundle.infolist()} - {""}
    taken = sorted(name for name in names if os.path.lexists(dest / name) and name not in owned)
    if taken:
        raise DownloadError(
            f"{dest / taken[0]} already exists and was not made by landmark-tag; the dataset would "
            "replace it. Move it away, or download into another folder with --dest"
        )
    staging = dest / ".extracting"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        safe_extract(archive, staging)
        owned_file.write_text("\n".join(sorted(names | owned)) + "\n")
        for item in staging.iterdir():
            target = dest / item.name
            if target.is_dir() and not target.is_symlink():  # ours, from an interrupted extraction
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
