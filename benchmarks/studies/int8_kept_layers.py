"""Which convolutions to keep in fp32 when quantizing a checkpoint to int8 directly, by the check's own
measure: the decisions that change, and how far probabilities and landmark scores move.

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \
        python -m benchmarks.studies.int8_kept_layers model.pt [model.pt ...]

For each checkpoint, quantizes the OpenVINO fp32 model with NNCF (plain post-training quantization on
the checkpoint's calibration crops, the overflow fix the scan uses on this CPU) keeping in fp32 none,
the first 1, 2, 3, 5 or 10 convolutions, the last 3 or 10, or the classifier; then runs the check of
`runtime.int8_check` against fp32 and measures the model alone (batch 32, median of 3). Prints one
line per variant, then each photo whose decision changed under the scan's choice (KEPT_IN_FP32).
The ONEDNN_MAX_CPU_ISA setting picks the arithmetic (AVX2; AVX512_CORE_VNNI; none: the CPU's own).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from landmark_tag.host.device import cpu_has_fast_int8, onednn_isa_cap
from landmark_tag.model.checkpoint import LoadedModel, load_model
from landmark_tag.runtime import quantize
from landmark_tag.runtime.int8_check import RunOutputs, Thresholds, check_int8
from landmark_tag.runtime.openvino_model import fp32_model, import_openvino
from landmark_tag.runtime.openvino_runner import run_outputs

VARIANTS = ("none", "first1", "first2", "first3", "first5", "first10", "last3", "last10", "classifier")


def kept(model, variant: str) -> list[str]:
    if variant == "none":
        return []
    if variant == "classifier":
        return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "MatMul"]
    convolutions = quantize.first_convolutions(model, 10**6)
    count = int(variant.removeprefix("first").removeprefix("last"))
    return convolutions[:count] if variant.startswith("first") else convolutions[-count:]


def quantized(loaded: LoadedModel, fp32_file: Path, reference: RunOutputs, variant: str):
    """The scan's direct quantization, keeping this variant's operations in fp32."""
    model = import_openvino().Core().read_model(str(fp32_file))
    return quantize.quantize_int8(
        loaded, fp32_file, reference, quantize.DIRECT, kept_in_fp32=kept(model, variant)
    )


def speed(model_file: Path) -> float:
    ov = import_openvino()
    compiled = ov.Core().compile_model(
        str(model_file), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}
    )
    request = compiled.create_infer_request()
    pixels = np.random.default_rng(0).random((32, 3, 224, 224), dtype=np.float32)
    request.infer([pixels])
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(3):
            request.infer([pixels])
        rates.append(3 * 32 / (time.perf_counter() - started))
    return statistics.median(rates)


def changed_photos(fp32: RunOutputs, int8: RunOutputs, thresholds: Thresholds) -> list[str]:
    lines = []
    before, after = fp32.decisions(thresholds), int8.decisions(thresholds)
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        if a != b:
            top2 = fp32.probabilities[i].topk(2).values.tolist() if i < len(fp32.probabilities) else [0, 0]
            lines.append(
                f"  photo {i}: fp32 {a[0].value} {a[1]} (top-2 {top2[0]:.3f}, {top2[1]:.3f}) -> "
                f"int8 {b[0].value} {b[1]}"
            )
    return lines


def main() -> None:
    print(f"oneDNN capped at {onednn_isa_cap() or 'nothing'}; int8 dot product: {cpu_has_fast_int8()}")
    ov = import_openvino()
    for path in sys.argv[1:]:
        loaded = load_model(path)
        thresholds = Thresholds.of(loaded.spec)
        with tempfile.TemporaryDirectory() as folder:
            fp32_file = fp32_model(loaded, Path(folder)).model_file
            reference = run_outputs(loaded, fp32_file, "fp32")
            print(f"\n{path}: fp32 {speed(fp32_file):.0f} photos/s")
            print("kept in fp32 | decisions changed | wrong tags | probability change mean / max | "
                  "landmark score change mean / max | passes | photos/s")  # fmt: skip
            for variant in VARIANTS:
                model_file = Path(folder) / f"{variant}.xml"
                ov.save_model(quantized(loaded, fp32_file, reference, variant), str(model_file), False)
                check = check_int8(reference, run_outputs(loaded, model_file, "int8"), thresholds)
                print(
                    f"{variant} | {check.decisions_changed} of {check.photos + check.negatives} | "
                    f"{check.wrong_tags} | {check.probability_mean_change:.4f} / "
                    f"{check.probability_max_change:.4f} | {check.score_mean_change or 0:.4f} / "
                    f"{check.score_max_change or 0:.4f} | {check.passed} | {speed(model_file):.0f}",
                    flush=True,
                )
                if variant == f"first{quantize.KEPT_IN_FP32}":
                    int8 = run_outputs(loaded, model_file, "int8")
                    print("\n".join(changed_photos(reference, int8, thresholds)))


if __name__ == "__main__":
    main()
