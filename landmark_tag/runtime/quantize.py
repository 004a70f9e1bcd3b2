"""int8 with NNCF, held to the answers of fp32.

Plain post-training quantization of EfficientNet-Lite moves some validation photos' probabilities by
0.07 to 0.10 and flips the top-1 of near ties (wonders7: 2 of 70), which `int8_check` refuses. So
the model is quantized with NNCF's accuracy control: it quantizes everything, ranks the quantized
operations by how much they change the answers, and returns the few that matter most to fp32 (four
of 80 on wonders7; speed within a few percent of full int8). "How much" is this module's metric:
per validation photo, the largest change of any probability, plus one if its top-1 changed.
`benchmarks/perf/model_speed.py` measures the speed.

The search has two budgets. QUICK, the first, is short enough for a first scan. THOROUGH ranks on
every validation photo and reverts more operations. Without AMX, wonders7's int8 passed only this
way (under AVX2 and VNNI the quick search left one near tie flipped); it costs minutes, so only
those who ask for int8, and `train`, pay it (docs/benchmarks.md, "Without native bf16").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landmark_tag.host.device import cpu_has_fast_int8
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.runtime.int8_check import MAX_LIMIT, RunOutputs


@dataclass(frozen=True)
class Search:
    """How long NNCF's accuracy control may look for the operations to keep in fp32."""

    name: str
    iterations: int  # rounds of reverting operations; past them, the check decides (fp32 if it fails)
    ranking_photos: int | None  # the validation photos operations are ranked on (most changed); None: all


QUICK = Search("quick", iterations=8, ranking_photos=16)
THOROUGH = Search("thorough", iterations=25, ranking_photos=None)
TARGET_CHANGE = 0.8 * MAX_LIMIT  # aim below the check's limit, which is measured by another compile


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
    search: Search = QUICK,
    log_steps: bool = False,
) -> Any:
    """The fp32 OpenVINO model at `fp32_file`, quantized to int8 on the checkpoint's calibration
    photos with accuracy control on its validation photos; `reference` is fp32's answers on them.

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
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    # NNCF's INFO lines (a few per round of the search) are the progress of a long build; a scan's
    # own lines say enough.
    nncf_logger.setLevel(logging.INFO if log_steps else logging.WARNING)
    try:
        return nncf.quantize_with_accuracy_control(
            ov.Core().read_model(str(fp32_file)),
            calibration_dataset=nncf.Dataset([photo[None] for photo in calibration]),
            validation_dataset=nncf.Dataset([photo[None] for photo in validation]),
            validation_fn=answer_changes(loaded, reference),
            max_drop=TARGET_CHANGE,
            drop_type=nncf.DropType.ABSOLUTE,
            subset_size=len(calibration),
            advanced_quantization_parameters=AdvancedQuantizationParameters(
                overflow_fix=OverflowFix.FIRST_LAYER if cpu_has_fast_int8() else OverflowFix.ENABLE
            ),
            advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                ranking_subset_size=search.ranking_photos or len(validation),
                max_num_iterations=search.iterations,
                num_ranking_workers=ranking_workers(),
            ),
        )
    finally:
        nncf_logger.setLevel(level)
