"""Where a checkpoint's int8 model comes from, in the order tried: a thorough int8 built here earlier
that passed its check; the portable int8 the checkpoint carries (`train` built it, see
`portable_int8`), checked here on first use in seconds; or NNCF's searches, run here on the
checkpoint's calibration photos (see `quantize`). Every int8 model is checked against fp32's
answers on this CPU (see `int8_check`) before it may run, and kept in the cache with its verdict.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.runtime.cache import MODEL_FILE, WEIGHTS_FILE, CacheEntry, cached_build, cached_entry
from landmark_tag.runtime.int8_check import Int8Check, RunOutputs, check_int8
from landmark_tag.runtime.openvino_model import (
    RuntimeUnavailable,
    base_parts,
    fp32_model,
    import_openvino,
    off_the_main_thread,
)
from landmark_tag.runtime.openvino_runner import run_outputs
from landmark_tag.runtime.quantize import QUICK, THOROUGH, Search, quantize_int8

logger = logging.getLogger(__name__)

PORTABLE = "portable"  # the search name of the int8 model a checkpoint carries


@dataclass
class Int8Model:
    entry: CacheEntry
    check: Int8Check
    search: str  # portable, quick or thorough (see `quantize`)
    built_now: bool = False  # by this call, rather than read from the cache

    @property
    def model_file(self) -> Path:
        return self.entry.model_file


def int8_model(
    loaded: LoadedModel,
    root: Path | None = None,
    searches: Sequence[Search] = (QUICK,),
    log_steps: bool = False,
) -> Int8Model:
    """The model in int8 and the check of its answers against fp32's on this CPU (see
    `int8_check`). Tried in order until one passes: a thorough int8 built here earlier that passed;
    the portable int8 the checkpoint carries (`train` built it; checked here on first use, in
    seconds); then NNCF's `searches` on the checkpoint's calibration photos, here (see `quantize`).
    Each verdict is cached with its model, so that none is paid for twice. Returns the last one
    tried when none passes; raises RuntimeUnavailable when there is nothing to try. `log_steps`:
    NNCF's lines for each round of a search, as its progress."""
    photos = loaded.calibration_photos
    if photos is None or not photos.usable:
        raise RuntimeUnavailable(f"{loaded.path} carries no calibration photos")
    fp32 = fp32_model(loaded, root)
    parts = {**base_parts(loaded, "int8"), "nncf": _nncf_version()}
    name = f"{loaded.spec.arch}-int8"
    earlier = cached_entry(name, {**parts, "search": THOROUGH.name}, root)
    if earlier is not None and earlier.details["check"]["passed"]:
        return Int8Model(earlier, Int8Check(**earlier.details["check"]), THOROUGH.name)
    computed: list[RunOutputs] = []

    def reference() -> RunOutputs:
        """fp32's answers on the check photos, which every build compares with: computed once."""
        if not computed:
            computed.append(run_outputs(loaded, fp32.model_file, "fp32"))
        return computed[0]

    tried: Int8Model | None = None
    built_now = False
    if loaded.portable_int8 is not None:
        tried = _portable_int8(loaded, reference, name, parts, root)
        built_now = tried is not None and tried.built_now
    for search in searches:
        if tried is not None and tried.check.passed:
            break
        tried = _searched_int8(loaded, fp32.model_file, reference, search, name, parts, root, log_steps)
        built_now = built_now or tried.built_now
    if tried is None:
        raise RuntimeUnavailable(f"{loaded.path} carries no int8 model, and none was searched for here")
    tried.built_now = built_now
    return tried


def _portable_int8(
    loaded: LoadedModel,
    reference: Callable[[], RunOutputs],
    name: str,
    parts: dict[str, str],
    root: Path | None,
) -> Int8Model | None:
    """The checkpoint's portable int8 with its check on this CPU; None when it cannot be read."""
    portable = loaded.portable_int8
    assert portable is not None
    built: list[bool] = []

    def build(folder: Path) -> dict[str, Any]:
        built.append(True)
        started = time.monotonic()
        (folder / MODEL_FILE).write_bytes(portable.model_xml)
        (folder / WEIGHTS_FILE).write_bytes(portable.model_bin)
        subject = f"the int8 model carried by {loaded.path}"
        check = _checked(loaded, reference(), folder, subject, "on this CPU")
        return {
            "check": check.to_dict(),
            "seconds": round(time.monotonic() - started, 2),
            "built": portable.details,
        }

    try:
        entry = cached_build(
            name,
            {**parts, "search": PORTABLE},
            lambda folder: off_the_main_thread(lambda: build(folder)),
            root,
        )
    except Exception as exc:  # an IR this OpenVINO cannot read: the searches may still find one
        logger.warning(
            "the int8 model carried by %s cannot run here (%s: %s)", loaded.path, type(exc).__name__, exc
        )
        return None
    return Int8Model(entry, Int8Check(**entry.details["check"]), PORTABLE, built_now=bool(built))


def _searched_int8(
    loaded: LoadedModel,
    fp32_file: Path,
    reference: Callable[[], RunOutputs],
    search: Search,
    name: str,
    parts: dict[str, str],
    root: Path | None,
    log_steps: bool = False,
) -> Int8Model:
    built: list[bool] = []

    def build(folder: Path) -> dict[str, Any]:
        built.append(True)
        ov = import_openvino()
        started = time.monotonic()
        if search.name == QUICK.name:
            logger.info(
                "quantizing %s to int8 (once per model and machine; about half a minute for "
                "EfficientNet-Lite0 on 2 cores)",
                loaded.path,
            )
        else:
            logger.info(
                "int8 of %s failed its check: searching longer for the operations to keep in fp32 "
                "(once per model and machine; about four minutes for EfficientNet-Lite0 on 2 cores)",
                loaded.path,
            )
        model = quantize_int8(loaded, fp32_file, reference(), search, log_steps)
        ov.save_model(model, str(folder / MODEL_FILE), False)
        check = _checked(loaded, reference(), folder, f"int8 ({search.name} search)")
        return {"check": check.to_dict(), "seconds": round(time.monotonic() - started, 2)}

    entry = cached_build(
        name,
        {**parts, "search": search.name},
        lambda folder: off_the_main_thread(lambda: build(folder)),
        root,
    )
    return Int8Model(entry, Int8Check(**entry.details["check"]), search.name, built_now=bool(built))


def _checked(
    loaded: LoadedModel, reference: RunOutputs, folder: Path, subject: str, where: str = ""
) -> Int8Check:
    """The check of the int8 model in `folder` against fp32's `reference`, logged as "<subject>
    passed (or failed) its check <where>: <numbers>"."""
    check = check_int8(reference, run_outputs(loaded, folder / MODEL_FILE, "int8"))
    verdict = f"{'passed' if check.passed else 'failed'} its check{' ' + where if where else ''}"
    logger.info("%s %s: %s", subject, verdict, check.describe())
    return check


def _nncf_version() -> str:
    # From the installed package's metadata: importing NNCF takes about a second, which every scan
    # and `predict` would pay only to read its version (the int8 the checkpoint carries never uses it).
    try:
        return importlib.metadata.version("nncf")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeUnavailable("NNCF is not installed") from None
