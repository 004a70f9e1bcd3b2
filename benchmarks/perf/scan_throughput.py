"""How close `landmark-tag scan` runs to what the hardware allows.

    python -m benchmarks.perf.scan_throughput [--photos-12mp 200] [--photos-web 600] [--json results.json]

Makes its photo sets in a temp folder (12 MP camera-like JPEGs, ~0.5 MP web images, and a web set
with 30% GPS-tagged photos), then measures side by side, on the same files, in one run:

  (a) decode ceiling: the decode workers' whole job per photo (EXIF, draft JPEG, orient, resize,
      crop, and the picture's hashes for copies unless --scan-args has --no-copies), all cores, no model
  (b) model ceiling: EfficientNet-Lite0 forward passes on tensors already in memory
  (c) `landmark-tag scan` end to end, through the real CLI
  (d) the naive per-image loop the original project used: full decode, one forward per image

and, where there is a GPU, (c) again with `--gpu-decode` (JPEGs decoded by nvJPEG).

Each of (a), (b) and (c) is run --repeats times and the median reported: the machine may be shared.

The checkpoint carries a landmark score with a bank of --bank-photos training photos' features
(5,000 by default: the 50-class dataset's size), and (c) is also run, interleaved, with the same
model without it, to show what the score costs.

On a CPU, decode and inference share the cores, so the pipeline's ceiling is 1 / (1/a + 1/b); on a
GPU, where inference leaves the cores free, it is min(a, b). The model is the default checkpoint
format with a random 50-class head: speed doesn't depend on the weights' values.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

from benchmarks.common import (
    benchmark_checkpoints,
    beside_cpu_bound_work,
    make_set,
    median_run,
    rate_from_first_batch,
    tree_memory_bytes,
)
from landmark_tag.files.discover import PhotoFile
from landmark_tag.host.allocator import keep_freed_memory
from landmark_tag.model.checkpoint import load_model
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from landmark_tag.pipeline.execute.examine import Examiner
from landmark_tag.runtime.runners import open_runner
from landmark_tag.training.backbones import LITE_MEAN, LITE_STD

PREPROCESSING = Preprocessing(224, 256, LITE_MEAN, LITE_STD, "bicubic")


# ---------------------------------------------------------------- measurements


_examiner: Examiner | None = None


def _examine(job: tuple[str, bool]) -> bool:
    """What a scan's decode worker does for one photo: EXIF, decode, and (with copies, the
    default) the picture's hashes."""
    global _examiner  # one per pool process
    path, hashes = job
    if _examiner is None or _examiner.hash_pictures != hashes:
        torch.set_num_threads(1)
        _examiner = Examiner(PhotoDecoder(PREPROCESSING), hash_pictures=hashes)
    stat = os.stat(path)
    return _examiner(PhotoFile(path, stat.st_size, stat.st_mtime)).decoded


def decode_ceiling(paths: list[Path], processes: int, repeats: int, hashes: bool = True) -> float:
    """Photos/s of the decode workers' own job (`_examine`), all cores, no model."""
    jobs = [(str(p), hashes) for p in paths]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_examine, jobs[:processes])  # warm up
        rates = []
        for _ in range(repeats):
            started = time.perf_counter()
            pool.map(_examine, jobs, chunksize=1)
            rates.append(len(paths) / (time.perf_counter() - started))
        return statistics.median(rates)


def model_ceiling(
    checkpoint: Path, photos: int, repeats: int, runtime: str = "auto", precision: str = "auto"
) -> tuple[float, int, str]:
    """The best forward-pass rate over a few batch sizes (small batches are often fastest on a CPU),
    each the median of `repeats` rounds, interleaved so a noisy moment hits every size alike; for
    the runtime and precision given (by default the scan's). Returns the rate, the batch size and
    what ran ("openvino int8", say)."""
    loaded = load_model(checkpoint)
    runner = open_runner(loaded, torch.device("cpu"), runtime, precision)
    size = loaded.spec.preprocessing.input_size
    rates: dict[int, list[float]] = {8: [], 16: [], 32: [], 64: []}
    for _ in range(repeats):
        for batch_size, measured in rates.items():
            pixels = torch.randn(batch_size, 3, size, size).to(runner.input_dtype)
            batches = max(2, photos // batch_size)
            runner(pixels)  # warm up
            started = time.perf_counter()
            for _ in range(batches):
                runner(pixels)[0].softmax(1).topk(3)
            measured.append(batch_size * batches / (time.perf_counter() - started))
    runner.close()
    medians = {batch_size: statistics.median(measured) for batch_size, measured in rates.items()}
    best = max(medians, key=medians.get)
    return medians[best], best, f"{runner.runtime} {runner.precision}"


def naive_loop(paths: list[Path], checkpoint: Path) -> float:
    """The original project's predict_landmarks, once per photo (with eval() and no_grad, to be fair)."""
    model = load_model(checkpoint).model.eval()
    transform = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(LITE_MEAN, LITE_STD),
        ]
    )
    started = time.perf_counter()
    with torch.no_grad():
        for path in paths:
            image = Image.open(path).convert("RGB")
            model(transform(image).unsqueeze(0)).softmax(1).topk(3)
    return len(paths) / (time.perf_counter() - started)


def cli_scan(folder: Path, checkpoint: Path, workdir: Path, extra: list[str]) -> dict:
    out, summary = workdir / f"{folder.name}.parquet", workdir / f"{folder.name}.json"
    command = [sys.executable, "-m", "landmark_tag", "scan", str(folder), "--model", str(checkpoint),
               "--out", str(out), "--summary-json", str(summary), "--full", *extra]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0

    def watch() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, tree_memory_bytes(process.pid))
            time.sleep(0.5)  # reading smaps costs the kernel time; don't steal it from the scan

    watcher = threading.Thread(target=watch)
    watcher.start()
    _, stderr = process.communicate()
    watcher.join()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"scan failed: {stderr.decode()[-2000:]}")
    data = json.loads(summary.read_text())
    setup = data["timing"]["setup"]
    return {
        # Like the ceilings, which are measured warm: from the first batch to the output written.
        "photos_per_s": rate_from_first_batch(data),
        "setup_seconds": setup,
        "wall_photos_per_s": data["processed"] / wall,
        "timing": data["timing"],
        "peak_memory_mb": peak / 2**20,
        "counts": data["counts"],
    }


# ---------------------------------------------------------------- runtimes


def compare_runtimes(
    args: argparse.Namespace, sets: dict[str, list[Path]], checkpoints: list[Path], tmp: Path
) -> None:
    """For each checkpoint and runtime:precision[:threads], the model ceiling and the scan of the
    web and 12 MP sets, with what each actually ran (int8 falls back to fp32 when it fails its
    check). The scans
    are interleaved, round by round, so that a noisy moment hits every variant alike, and each round
    measures the decode ceilings first: a shared machine's speed drifts over the minutes of a run,
    and a ceiling measured only at its start would rate the later scans against another machine.
    Threads, when given, are the scan's --threads."""
    cores = os.cpu_count() or 1
    hashes = "--no-copies" not in args.scan_args.split()
    variants = [item.split(":") for item in args.runtimes.split(",")]
    decode_rates: dict[str, list[float]] = {"web": [], "12mp": []}
    rows = []
    with beside_cpu_bound_work(args.busy):
        extras = []
        for checkpoint in checkpoints:
            for runtime, precision, *threads in variants:
                photos, repeats = args.model_photos, args.repeats
                rate, batch, ran = model_ceiling(checkpoint, photos, repeats, runtime, precision)
                variant = ":".join([runtime, precision, *threads])
                if len(checkpoints) > 1:
                    variant = f"{checkpoint.name} {variant}"
                rows.append({"variant": variant, "ran": ran, "model_ceiling": rate, "batch": batch})
                extra = [*args.scan_args.split(), "--runtime", runtime, "--precision", precision]
                extras.append((checkpoint, extra + (["--threads", threads[0]] if threads else [])))
        runs: dict[tuple[int, str], list[dict]] = {}
        for name in ("web", "12mp"):
            for i, (checkpoint, extra) in enumerate(extras):
                cli_scan(sets[name][0].parent, checkpoint, tmp, extra)  # builds the runtime's model, once
                runs[i, name] = []
        for _ in range(args.repeats):
            for name in ("web", "12mp"):
                decode_rates[name].append(decode_ceiling(sets[name], cores, 1, hashes))
                for i, (checkpoint, extra) in enumerate(extras):
                    runs[i, name].append(cli_scan(sets[name][0].parent, checkpoint, tmp, extra))
        decode = {name: statistics.median(rates) for name, rates in decode_rates.items()}
        for i, row in enumerate(rows):
            for name in ("web", "12mp"):
                row[name] = median_run(runs[i, name])
                row[f"{name}_pipeline_ceiling"] = 1 / (1 / decode[name] + 1 / row["model_ceiling"])
            print(json.dumps(row), flush=True)
    base = rows[0]
    print(f"\n{'busy (a CPU-bound process per core beside)' if args.busy else 'idle'}; decode ceilings: "
          f"web {decode['web']:.1f}, 12 MP {decode['12mp']:.1f} photos/s\n")  # fmt: skip
    print("runtime:precision | ran | model ceiling | web scan | 12 MP scan | web, 12 MP scan / its pipeline "
          "ceiling | peak memory | model ceiling, web scan vs the first row")  # fmt: skip
    print("--- | --- | --- | --- | --- | --- | --- | ---")
    for row in rows:
        print(
            f"{row['variant']} | {row['ran']} | {row['model_ceiling']:.1f} | "
            f"{row['web']['photos_per_s']:.1f} | {row['12mp']['photos_per_s']:.1f} | "
            f"{row['web']['photos_per_s'] / row['web_pipeline_ceiling']:.2f}, "
            f"{row['12mp']['photos_per_s'] / row['12mp_pipeline_ceiling']:.2f} | "
            f"{max(row['web']['peak_memory_mb'], row['12mp']['peak_memory_mb']):.0f} MB | "
            f"{row['model_ceiling'] / base['model_ceiling']:.2f}x, "
            f"{row['web']['photos_per_s'] / base['web']['photos_per_s']:.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps({"busy": args.busy, "decode": decode, "rows": rows}, indent=2) + "\n")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos-12mp", type=int, default=200)
    parser.add_argument("--photos-web", type=int, default=600)
    parser.add_argument("--model-photos", type=int, default=256, help="forward passes per batch size tried")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--scan-args", default="", help="extra arguments for the scan, e.g. '--workers 3'")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--runtimes",
        help="compare runtimes instead, e.g. torch:fp32,openvino:fp32,openvino:int8 (runtime:precision), "
        "or openvino:int8:2 (the scan with --threads 2)",
    )
    parser.add_argument(
        "--model",
        help="--runtimes: a trained checkpoint (int8 needs one), or several, comma-separated, to compare",
    )
    parser.add_argument("--busy", action="store_true", help="--runtimes: a CPU-bound process per core beside")
    parser.add_argument(
        "--bank-photos", type=int, default=5000, help="training photos in the landmark score's bank"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    hashes = "--no-copies" not in args.scan_args.split()
    gpu = torch.cuda.is_available()
    results: dict = {"cores": cores, "gpu": torch.cuda.get_device_name() if gpu else None, "sets": {}}
    # The scan tunes malloc for inference (see landmark_tag.host.allocator); the ceilings, and
    # the naive loop, get the same tuning, so that each is measured at its best.
    results["malloc_tuned"] = keep_freed_memory()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint, without_score, results["bank_mb"] = benchmark_checkpoints(tmp, args.bank_photos)

        started = time.perf_counter()
        sets = {
            "12mp": make_set(tmp / "12mp", args.photos_12mp, (4000, 3000)),
            "web": make_set(tmp / "web", args.photos_web, (864, 576)),
            "web_30pct_gps": make_set(tmp / "web_30pct_gps", args.photos_web, (864, 576), gps_share=0.3),
        }
        sizes = [p.stat().st_size for p in sets["12mp"]]
        print(
            f"photo sets made in {time.perf_counter() - started:.0f}s; 12 MP JPEGs are "
            f"{min(sizes) / 2**20:.1f}-{max(sizes) / 2**20:.1f} MB",
            flush=True,
        )

        os.environ["LANDMARK_TAG_CACHE"] = str(tmp / "cache")  # each run builds its own, once
        if args.runtimes:
            models = [Path(p) for p in args.model.split(",")] if args.model else [checkpoint]
            compare_runtimes(args, sets, models, tmp)
            return
        model_rate, best_batch, precision = model_ceiling(checkpoint, args.model_photos, args.repeats)
        results["model_ceiling_batch_size"], results["precision"] = best_batch, precision
        print(f"model ceiling: {model_rate:.1f} photos/s at batch size {best_batch}, {precision}", flush=True)
        for name, paths in sets.items():
            row: dict = {"photos": len(paths), "model_ceiling": model_rate}
            if name != "web_30pct_gps":
                row["decode_ceiling"] = decode_ceiling(paths, cores, args.repeats, hashes)
                a, b = row["decode_ceiling"], model_rate
                row["pipeline_ceiling"] = min(a, b) if gpu else 1 / (1 / a + 1 / b)
            runs, runs_without_score = [], []
            for _ in range(args.repeats):  # interleaved, so that a noisy moment hits both alike
                runs.append(cli_scan(tmp / name, checkpoint, tmp, args.scan_args.split()))
                runs_without_score.append(cli_scan(tmp / name, without_score, tmp, args.scan_args.split()))
            row["scan"] = median_run(runs)
            row["scan_without_score"] = median_run(runs_without_score)
            row["score_cost"] = 1 - row["scan"]["photos_per_s"] / row["scan_without_score"]["photos_per_s"]
            if "pipeline_ceiling" in row:
                row["scan_vs_ceiling"] = row["scan"]["photos_per_s"] / row["pipeline_ceiling"]
            if gpu and name != "web_30pct_gps":  # the same scan with JPEG decoding on the GPU
                extra = [*args.scan_args.split(), "--gpu-decode"]
                runs = [cli_scan(tmp / name, checkpoint, tmp, extra) for _ in range(args.repeats)]
                row["scan_gpu_decode"] = median_run(runs)
            if name == "12mp":
                row["naive"] = naive_loop(paths, checkpoint)
                row["scan_vs_naive"] = row["scan"]["photos_per_s"] / row["naive"]
            results["sets"][name] = row
            print(f"{name}: {json.dumps(row)}", flush=True)

    print()
    print("set | photos | decode ceiling (a) | model ceiling (b) | pipeline ceiling | scan (c) | c / ceiling "
          "| naive (d) | c / d | scan peak memory")  # fmt: skip
    print("--- | --- | --- | --- | --- | --- | --- | --- | --- | ---")

    def cell(value, fmt="{:.1f}"):
        return fmt.format(value) if value is not None else "-"

    for name, row in results["sets"].items():
        print(
            " | ".join(
                [
                    name,
                    str(row["photos"]),
                    cell(row.get("decode_ceiling")),
                    cell(row["model_ceiling"]),
                    cell(row.get("pipeline_ceiling")),
                    cell(row["scan"]["photos_per_s"]),
                    cell(row.get("scan_vs_ceiling"), "{:.2f}"),
                    cell(row.get("naive")),
                    cell(row.get("scan_vs_naive"), "{:.1f}"),
                    f"{row['scan']['peak_memory_mb']:.0f} MB",
                ]
            )
        )
    print(f"\nThe landmark score (a bank of {args.bank_photos} photos, {results['bank_mb']:.1f} MB):")
    for name, row in results["sets"].items():
        print(
            f"{name}: scan {row['scan']['photos_per_s']:.1f} photos/s with it, "
            f"{row['scan_without_score']['photos_per_s']:.1f} without: {row['score_cost']:+.1%} slower"
        )
    for name, row in results["sets"].items():
        if "scan_gpu_decode" in row:
            print(f"{name} with --gpu-decode: {row['scan_gpu_decode']['photos_per_s']:.1f} photos/s")
    print("\nRates in photos/s. The scan rate counts from its first batch to its output written, like the")
    print("warm ceilings; model load and file listing (setup_seconds) and interpreter start-up are in")
    print("the JSON, with the wall-clock rate. Peak memory is the largest sum of PSS over the scan and")
    print("its decode workers (shared pages counted once).")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
