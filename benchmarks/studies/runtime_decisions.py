"""Whether the default runtime decides as PyTorch does, photo by photo, on real photos.

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python -m benchmarks.studies.runtime_decisions \\
        --model model.pt ../shared/data/otherlm-dev ../shared/data/negatives-dev ...

Scans the folders twice with `landmark-tag scan --include-gps --no-copies --full`: `--runtime torch`
(PyTorch fp32, or bf16 where the CPU has it) and the default (OpenVINO: int8 or bf16), then counts
the photos whose decision is the same (the status, and the top-1 unless no_landmark: what the scan
acts on), and, apart, the top-1 of every photo; and lists the photos decided otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq


def scan(folders: list[str], model: str, out: Path, runtime: str) -> tuple[dict, str]:
    summary = out.with_suffix(".json")
    options = ["--runtime", runtime, "--include-gps", "--no-copies", "--full", "--summary-json", str(summary)]
    command = [
        sys.executable,
        "-m",
        "landmark_tag",
        "scan",
        *folders,
        "--model",
        model,
        "--out",
        str(out),
        *options,
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = pq.read_table(out, columns=["path", "status", "landmark_1", "probability_1"]).to_pylist()
    return {row["path"]: row for row in rows}, json.loads(summary.read_text())["device"]


def decision(row: dict) -> tuple[str, str | None]:
    return row["status"], None if row["status"] == "no_landmark" else row["landmark_1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reference, reference_ran = scan(args.folders, args.model, Path(tmp) / "torch.parquet", "torch")
        default, default_ran = scan(args.folders, args.model, Path(tmp) / "default.parquet", "auto")
    judged = [p for p, row in reference.items() if row["status"] in ("tagged", "uncertain", "no_landmark")]
    same = [p for p in judged if decision(reference[p]) == decision(default[p])]
    same_top1 = [p for p in judged if reference[p]["landmark_1"] == default[p]["landmark_1"]]
    print(f"{len(judged)} photos judged by {reference_ran} and by {default_ran}:")
    print(
        f"  same decision (status, and top-1 unless no_landmark): {len(same)} ({len(same) / len(judged):.2%})"
    )
    print(f"  same top-1, no_landmark photos too: {len(same_top1)} ({len(same_top1) / len(judged):.2%})")
    for path in sorted(set(judged) - set(same)):
        a, b = reference[path], default[path]
        print(f"  {path}: {a['status']} {a['landmark_1']} {a['probability_1']:.3f} -> "
              f"{b['status']} {b['landmark_1']} {b['probability_1']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
