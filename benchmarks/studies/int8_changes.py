"""Which validation photos a checkpoint's int8 answers differently from its fp32, on this CPU.

    python -m benchmarks.studies.int8_changes model.pt

Builds (or reads from the cache) the checkpoint's OpenVINO fp32 and int8 models, as the scan does,
runs both on the validation crops the checkpoint carries, and prints every photo whose top-1
changed, with both top-2s, then the largest probability changes. The int8 check (docs/benchmarks.md, "CPU
runtimes") passes or fails on these numbers; this shows which photos decide it, and whether a change
would alter a tag (the checkpoint's min confidence is printed with them).
"""

from __future__ import annotations

import sys

from landmark_tag.model.checkpoint import load_model
from landmark_tag.runtime.int8_models import int8_model
from landmark_tag.runtime.openvino_model import fp32_model
from landmark_tag.runtime.openvino_runner import run_outputs
from landmark_tag.runtime.quantize import SEARCHES


def top2(row) -> str:
    values, indices = row.topk(2)
    return ", ".join(f"class {i} {v:.3f}" for v, i in zip(values.tolist(), indices.tolist(), strict=True))


def main() -> None:
    loaded = load_model(sys.argv[1])
    fp32 = run_outputs(loaded, fp32_model(loaded).model_file, "fp32").probabilities
    int8_file = int8_model(loaded, searches=SEARCHES).model_file  # what --precision int8 runs
    int8 = run_outputs(loaded, int8_file, "int8").probabilities
    print(f"{len(fp32)} validation photos; min confidence {loaded.spec.min_confidence:.3f}")
    for i in range(len(fp32)):
        if fp32[i].argmax() != int8[i].argmax():
            print(f"photo {i}: top-1 changed: fp32 {top2(fp32[i])}; int8 {top2(int8[i])}")
    change = (fp32 - int8).abs().amax(dim=1)
    for i in change.topk(min(5, len(change))).indices.tolist():
        print(f"photo {i}: largest change {change[i]:.3f}; fp32 {top2(fp32[i])}; int8 {top2(int8[i])}")


if __name__ == "__main__":
    main()
