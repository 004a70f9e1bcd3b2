"""Where built OpenVINO models are kept, and when one may be reused.

An entry is a folder named by a key over everything its contents depend on: the checkpoint's hash,
the variant (fp32 or int8), the OpenVINO (and NNCF) versions, this CPU's features (int8's answers,
and so its check, depend on the instructions it runs on), and the layout of the entry itself. An
entry is written in a temporary folder and renamed into place when complete, so a crash or a
concurrent build (two Ray actors on one machine) never leaves a half-written one; one that does
not read back exactly as written is removed and rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landmark_tag.device import cpu_flags, onednn_isa_cap

logger = logging.getLogger(__name__)

ENTRY_FORMAT = 1  # raise when what an entry holds, or how it is built, changes
ENTRY_FILE = "entry.json"
MODEL_FILE = "model.xml"
WEIGHTS_FILE = "model.bin"

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
    record. `name` starts the entry's folder name, for people who look in the cache.
    """
    root = root or cache_root()
    folder = entry_folder(name, parts, root)
    entry = read_entry(folder, parts)
    if entry is not None:
        return entry
    if folder.exists():
        logger.warning("the cached model in %s is incomplete or damaged: building it again", folder)
        shutil.rmtree(folder, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
    try:
        details = build(building)
        hashes = {name: _file_hash(building / name) for name in (MODEL_FILE, WEIGHTS_FILE)}
        record = {"entry_format": ENTRY_FORMAT, "parts": parts, "hashes": hashes, "details": details}
        (building / ENTRY_FILE).write_text(json.dumps(record, indent=1))
        try:
            building.rename(folder)
        except OSError:  # another process finished the same entry first: use theirs
            entry = read_entry(folder, parts)
            if entry is None:
                raise
            return entry
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return CacheEntry(folder, details)
