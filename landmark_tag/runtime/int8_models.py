"""Which int8 model runs: the first that passes its check on this CPU (`int8_check`), tried in order:

1. one built here earlier that passed (every build is cached with its verdict, see `cache`);
2. the portable int8 the checkpoint carries (`train` built it, see `portable_int8`), checked here
   on first use in seconds;
3. NNCF's searches, run here on the checkpoint's calibration photos (`quantize`): DIRECT first
   (seconds), then the longer ones the caller asks for.

Each build says what it is doing and, when done, how long it took and its verdict.
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
from landmark_tag.runtime.int8_check import Int8Check, RunOutputs, Thresholds, check_int8
from landmark_tag.runtime.openvino_model import (
    RuntimeUnavailable,
    base_parts,
    fp32_model,
    import_openvino,
    off_the_main_thread,
)
from landmark_tag.runtime.openvino_runner import run_outputs
from landmark_tag.runtime.quantize import DIRECT, QUICK, SEARCHES, Search, quantize_int8

logger = logging.getLogger(__name__)

PORTABLE = "portable"  # the source name of the int8 model a checkpoint carries


@dataclass
class Int8Model:
    entry: CacheEntry
    check: Int8Check
    source: str  # portable, or the search that built it (see `quantize`)
    built_now: bool = False  # by this call, rather than read from the cache

    @property
    def model_file(self) -> Path:
        return self.entry.model_file


def int8_model(
    loaded: LoadedModel,
    root: Path | None = None,
    searches: Sequence[Search] = (DIRECT, QUICK),
    log_steps: bool = False,
) -> Int8Model:
    """The int8 model that runs `loaded` here, with its check against fp32 on this CPU (see the
    module's docstring for the order tried). Returns the last one tried when none passes; raises
    RuntimeUnavailable when there is nothing to try. `log_steps`: NNCF's lines for each round of a
    search, as its progress."""
    photos = loaded.calibration_photos
    if photos is None or not photos.usable:
        raise RuntimeUnavailable(f"{loaded.path} carries no calibration photos")
    fp32 = fp32_model(loaded, root)
    parts = {**base_parts(loaded, "int8"), "nncf": _nncf_version()}
    name = f"{loaded.spec.arch}-int8"
    sources: list[Search | None] = [None] if loaded.portable_int8 is not None else []  # None: portable
    sources += list(searches)
    for source in [*sources, *(s for s in SEARCHES if s not in sources)]:
        earlier = cached_entry(name, {**parts, "search": _source_name(source)}, root)
        if earlier is not None and earlier.details["check"]["passed"]:
            return Int8Model(earlier, Int8Check(**earlier.details["check"]), _source_name(source))
    computed: list[RunOutputs] = []

    def reference() -> RunOutputs:
        """fp32's answers on the check photos, which every build compares with: computed once."""
        if not computed:
            computed.append(run_outputs(loaded, fp32.model_file, "fp32"))
        return computed[0]

    tried: Int8Model | None = None
    built_now = False
    for source in sources:
        attempt = _checked_build(loaded, fp32.model_file, reference, source, name, parts, root, log_steps)
        if attempt is None:
            continue
        tried = attempt
        built_now = built_now or attempt.built_now
        if attempt.check.passed:
            break
    if tried is None:
        raise RuntimeUnavailable(f"{loaded.path} carries no int8 model, and none was searched for here")
    tried.built_now = built_now
    return tried


def _source_name(source: Search | None) -> str:
    return PORTABLE if source is None else source.name


def _checked_build(
    loaded: LoadedModel,
    fp32_file: Path,
    reference: Callable[[], RunOutputs],
    source: Search | None,
    name: str,
    parts: dict[str, str],
    root: Path | None,
    log_steps: bool,
) -> Int8Model | None:
    """The int8 model from `source` (a search, or None for the checkpoint's portable one), from the
    cache or built and checked here; None when the portable one cannot be read."""
    built: list[bool] = []
    subject = (
        f"the int8 model carried by {loaded.path}"
        if source is None
        else f"int8 of {loaded.path} ({source.name} search)"
    )

    def build(folder: Path) -> dict[str, Any]:
        built.append(True)
        started = time.monotonic()
        details: dict[str, Any] = {}
        if source is None:
            portable = loaded.portable_int8
            assert portable is not None
            (folder / MODEL_FILE).write_bytes(portable.model_xml)
            (folder / WEIGHTS_FILE).write_bytes(portable.model_bin)
            details["built"] = portable.details
        else:
            logger.info("building %s: %s", subject, _DURATIONS.get(source.name, "once per model and machine"))
            model = quantize_int8(loaded, fp32_file, reference(), source, log_steps)
            import_openvino().save_model(model, str(folder / MODEL_FILE), False)
        outputs = run_outputs(loaded, folder / MODEL_FILE, "int8")
        check = check_int8(reference(), outputs, Thresholds.of(loaded.spec))
        seconds = round(time.monotonic() - started, 2)
        verdict = "passed" if check.passed else "failed"
        logger.info("%s %s its check on this CPU (%.0f s): %s", subject, verdict, seconds, check.describe())
        return {**details, "check": check.to_dict(), "seconds": seconds}

    try:
        entry = cached_build(
            name,
            {**parts, "search": _source_name(source)},
            lambda folder: off_the_main_thread(lambda: build(folder)),
            root,
        )
    except Exception as exc:
        if source is not None:
            raise
        # An IR this OpenVINO cannot read: the searches may still find one.
        logger.warning("%s cannot run here (%s: %s)", subject, type(exc).__name__, exc)
        return None
    return Int8Model(entry, Int8Check(**entry.details["check"]), _source_name(source), bool(built))


_DURATIONS = {  # what a build costs, said before it starts (EfficientNet-Lite0 on 2 cores)
    "direct": "once per model and machine, about 15 seconds",
    "quick": "its direct int8 failed the check; searching for operations to keep in fp32, about a minute",
    "thorough": "searching longer for operations to keep in fp32, about four minutes",
}


def _nncf_version() -> str:
    # From the installed package's metadata: importing NNCF takes about a second, which every scan
    # and `predict` would pay only to read its version (the int8 the checkpoint carries never uses it).
    try:
        return importlib.metadata.version("nncf")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeUnavailable("NNCF is not installed") from None
