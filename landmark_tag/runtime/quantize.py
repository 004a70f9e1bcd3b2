"""int8 with NNCF, held to the decisions of fp32 (`int8_check`).

Every search keeps the model's first three convolutions in fp32 (KEPT_IN_FP32; EfficientNet-Lite's
stem and first block). They see the photo at full resolution through few channels, and their
rounding reaches every later layer: quantized, they moved validation photos' probabilities by up to
0.11 and tagged a near tie with another landmark; kept, the changes halved and the decisions held,
for about 6% of int8's speed (docs/benchmarks.md, "Fast on every CPU"). Keeping the classifier or
the last blocks in fp32 changed nothing.

DIRECT, the common path, is plain post-training quantization on the checkpoint's calibration photos:
seconds. When its int8 fails the check, NNCF's accuracy control searches for more operations to
keep in fp32, ranking them by this module's metric (per validation photo, the largest change of any
probability, plus one if its top-1 changed): QUICK ranks on a few photos (about a minute),
THOROUGH on all of them (minutes; only `--precision int8` and `train` go on to it).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landmark_tag.host.device import cpu_has_fast_int8
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.runtime.int8_check import RunOutputs


@dataclass(frozen=True)
class Search:
    """How long NNCF's accuracy control may look for the operations to keep in fp32."""

    name: str
    iterations: int  # rounds of reverting operations (0: none, plain quantization); then the check decides
    ranking_photos: int | None  # the validation photos operations are ranked on (most changed); None: all


DIRECT = Search("direct", iterations=0, ranking_photos=0)
QUICK = Search("quick", iterations=8, ranking_photos=16)
THOROUGH = Search("thorough", iterations=25, ranking_photos=None)
SEARCHES = (DIRECT, QUICK, THOROUGH)  # in the order they are tried; each longer than the one before
TARGET_CHANGE = 0.04  # the searches' aim: no probability moved by more (a near tie may still flip)
KEPT_IN_FP32 = 3  # the first convolutions, which stay in fp32 (see the module's docstring)


def ranking_workers() -> int:
    """Models compiled and ranked at once. NNCF's own choice is half the cores, one on two; but
    compiling is partly serial, and two workers on two cores took the whole build of
    EfficientNet-Lite0 from 31 to 25 s (the ranking is most of it)."""
    return max(2, min(os.cpu_count() or 1, 8) // 2)


def answer_changes(loaded: LoadedModel, reference: RunOutputs) -> Any:
    """NNCF's validation function: (the smallest per-photo score, every photo's score), where a
    photo's score is 1 minus its change from `reference` (see the module's docstring). The landmark
    score is left to the check: it moves far less than the probabilities (wonders7: 0.03 at most),
    and ranking on it too made the search slower and less stable."""
    temperature = loaded.spec.temperature

    def validate(compiled: Any, photos: Iterable[np.ndarray]) -> tuple[float, list[float]]:
        scores = []
        for i, pixels in enumerate(photos):
            logits = torch.from_numpy(compiled(pixels)[0])
            probabilities = torch.softmax(logits / temperature, dim=1)[0]
            expected = reference.probabilities[i]
            change = float((probabilities - expected).abs().max())
            if int(probabilities.argmax()) != int(expected.argmax()):
                change += 1.0
            scores.append(1.0 - change)
        return min(scores), scores

    return validate


def quantize_int8(
    loaded: LoadedModel,
    fp32_file: Path,
    reference: RunOutputs,
    search: Search = DIRECT,
    log_steps: bool = False,
    kept_in_fp32: Sequence[str] | None = None,
) -> Any:
    """The fp32 OpenVINO model at `fp32_file`, quantized to int8 on the checkpoint's calibration
    photos; a `search` with iterations adds accuracy control on its validation photos, `reference`
    being fp32's answers on them. `kept_in_fp32`: the names of the operations left unquantized
    (default: the first KEPT_IN_FP32 convolutions; `benchmarks/studies/int8_kept_layers.py` tries others).

    Without an int8 dot product, every layer's weights keep 7 bits (NNCF's overflow fix; otherwise
    only the first layer's): AVX2 multiplies int8 pairs into 16-bit sums that 8-bit weights can
    overflow (docs/benchmarks.md, "Without native bf16")."""
    from landmark_tag.runtime.openvino_model import decline_telemetry

    decline_telemetry()  # before NNCF's import, which starts its own
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import (
        AdvancedAccuracyRestorerParameters,
        AdvancedQuantizationParameters,
        OverflowFix,
    )

    photos = loaded.calibration_photos
    assert photos is not None
    preprocessing = loaded.spec.preprocessing
    calibration = photos.pixels("calibration", preprocessing).numpy()
    validation = photos.pixels("validation", preprocessing).numpy()
    fp32_model = ov.Core().read_model(str(fp32_file))
    overflow_fix = OverflowFix.FIRST_LAYER if cpu_has_fast_int8() else OverflowFix.ENABLE
    common: dict[str, Any] = {
        "calibration_dataset": nncf.Dataset([photo[None] for photo in calibration]),
        "subset_size": len(calibration),
        "ignored_scope": nncf.IgnoredScope(
            names=list(
                kept_in_fp32 if kept_in_fp32 is not None else first_convolutions(fp32_model, KEPT_IN_FP32)
            )
        ),
        "advanced_quantization_parameters": AdvancedQuantizationParameters(overflow_fix=overflow_fix),
    }
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    # NNCF's INFO lines (a few per round of the search) and progress bars (on stdout) are the
    # progress of a long build, for `train`; a scan's own lines say enough.
    nncf_logger.setLevel(logging.INFO if log_steps else logging.WARNING)
    try:
        with contextlib.nullcontext() if log_steps else contextlib.redirect_stdout(io.StringIO()):
            if search.iterations == 0:
                parameters = common.pop("advanced_quantization_parameters")
                return nncf.quantize(fp32_model, **common, advanced_parameters=parameters)
            return nncf.quantize_with_accuracy_control(
                fp32_model,
                validation_dataset=nncf.Dataset([photo[None] for photo in validation]),
                validation_fn=answer_changes(loaded, reference),
                max_drop=TARGET_CHANGE,
                drop_type=nncf.DropType.ABSOLUTE,
                advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                    ranking_subset_size=search.ranking_photos or len(validation),
                    max_num_iterations=search.iterations,
                    num_ranking_workers=ranking_workers(),
                ),
                **common,
            )
    finally:
        nncf_logger.setLevel(level)


def first_convolutions(model: Any, count: int) -> list[str]:
    """The names of the OpenVINO model's first `count` convolutions, in the order they run."""
    kinds = ("Convolution", "GroupConvolution")
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() in kinds][:count]
