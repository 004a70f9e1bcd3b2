"""Where built OpenVINO models are kept, and when one may be reused.

An entry is a folder named by a key over everything its contents depend on: the checkpoint's hash,
the variant (fp32 or int8), the OpenVINO (and NNCF) versions, this CPU's features (int8's answers,
and so its check, depend on the instructions it runs on), and the layout of the entry itself. An
entry is written in a temporary folder and renamed into place when complete, so a crash or a
concurrent build (two Ray actors on one machine) never leaves a half-written one; one that does
not read back exactly as written is removed and rebuilt, never trusted. Builds take turns under a
lock file, so no process removes an entry that another has just finished.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landmark_tag.host.device import cpu_flags, onednn_isa_cap

logger = logging.getLogger(__name__)

ENTRY_FORMAT = 2  # raise when what an entry holds, or how it is built, changes
ENTRY_FILE = "entry.json"
MODEL_FILE = "model.xml"
WEIGHTS_FILE = "model.bin"
BUILD_LOCK = ".build.lock"  # builds take turns (builds are rare: once per model, version and CPU)

# The instruction sets that change how (and how exactly) a CPU runs fp32, bf16 and int8 models.
_CPU_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


def cache_root() -> Path:
    """`$LANDMARK_TAG_CACHE`, else `$XDG_CACHE_HOME/landmark-tag`, else `~/.cache/landmark-tag`."""
    root = os.environ.get("LANDMARK_TAG_CACHE")
    if root:
        return Path(root).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home).expanduser() / "landmark-tag"


def cpu_features() -> str:
    """The CPU's model-relevant instruction sets, e.g. "x86_64:avx2,avx512f,fma"."""
    flags = cpu_flags()
    if not flags:  # not Linux: the processor's name stands in for its flags
        return f"{platform.machine()}:{platform.processor()}"
    features = f"{platform.machine()}:{','.join(sorted(flags.intersection(_CPU_FLAGS)))}"
    cap = onednn_isa_cap()  # a capped oneDNN computes int8 with other instructions
    return f"{features};max_isa={cap}" if cap else features


@dataclass
class CacheEntry:
    path: Path
    details: dict[str, Any]  # what the build recorded (e.g. the int8 check)

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE


def entry_key(parts: dict[str, str]) -> str:
    text = json.dumps({"entry_format": ENTRY_FORMAT, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_entry(folder: Path, parts: dict[str, str]) -> CacheEntry | None:
    """The entry in `folder` if it is complete and was built for exactly `parts`; else None."""
    try:
        recorded = json.loads((folder / ENTRY_FILE).read_text())
        if recorded["parts"] != parts or recorded["entry_format"] != ENTRY_FORMAT:
            return None
        for name in (MODEL_FILE, WEIGHTS_FILE):
            if _file_hash(folder / name) != recorded["hashes"][name]:
                return None
        return CacheEntry(folder, recorded["details"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def entry_folder(name: str, parts: dict[str, str], root: Path) -> Path:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", name)  # an architecture may be "timm/<name>"
    return root / f"{readable}-{entry_key(parts)}"


def cached_entry(name: str, parts: dict[str, str], root: Path | None = None) -> CacheEntry | None:
    """The sound entry for `parts` if one has been built; never builds."""
    return read_entry(entry_folder(name, parts, root or cache_root()), parts)


def cached_build(
    name: str, parts: dict[str, str], build: Callable[[Path], dict[str, Any]], root: Path | None = None
) -> CacheEntry:
    """The cache entry for `parts`, built by `build(folder)` first if there is no sound one.

    `build` writes MODEL_FILE and WEIGHTS_FILE into the folder it is given and returns the details to
    record. `name` starts the entry's folder name, for people who look in the cache. Builds take
    turns (BUILD_LOCK), so a process never removes an entry another has just finished. A cache that
    cannot be written is replaced, with a warning, by a temporary one.
    """
    root = root or cache_root()
    entry = read_entry(entry_folder(name, parts, root), parts)
    if entry is not None:
        return entry
    root = _writable(root)
    folder = entry_folder(name, parts, root)
    with _build_lock(root / BUILD_LOCK):
        entry = read_entry(folder, parts)  # built by another process while this one waited
        if entry is not None:
            return entry
        if folder.exists() or folder.is_symlink():
            logger.warning("the cached model in %s is incomplete or damaged: building it again", folder)
            _remove(folder)
        building = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
        try:
            details = build(building)
            hashes = {name: _file_hash(building / name) for name in (MODEL_FILE, WEIGHTS_FILE)}
            record = {"entry_format": ENTRY_FORMAT, "parts": parts, "hashes": hashes, "details": details}
            (building / ENTRY_FILE).write_text(json.dumps(record, indent=1))
            building.rename(folder)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return CacheEntry(folder, details)


class CacheUnavailable(Exception):
    """No folder, not even a temporary one, can hold a built model: the caller runs PyTorch."""


def _writable(root: Path) -> Path:
    """`root`, made if need be, when entries can be written there; else a temporary folder removed
    when the process exits (models are then built again by every run), with a warning."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".probe.", dir=root))
        return root
    except OSError as exc:
        reason = "it is a file, not a folder" if root.is_file() else (exc.strerror or str(exc))
    try:
        temporary = Path(tempfile.mkdtemp(prefix="landmark-tag-cache-"))
    except OSError as exc:
        raise CacheUnavailable(
            f"the model cache {root} cannot be written ({reason}), nor can a temporary folder "
            f"({exc.strerror or exc})"
        ) from None
    atexit.register(shutil.rmtree, temporary, True)
    logger.warning(
        "the model cache %s cannot be written (%s): building the model in a temporary folder, which is "
        "not kept; point LANDMARK_TAG_CACHE at a writable folder to build it once",
        root,
        reason,
    )
    return temporary


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _remove(folder: Path) -> None:
    """Remove a damaged entry, whatever is at its name: a folder, a file or a symlink."""
    if folder.is_symlink() or not folder.is_dir():
        folder.unlink()
    else:
        shutil.rmtree(folder)
