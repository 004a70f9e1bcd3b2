"""Peak memory of a scan at two tree sizes, and the cost of an incremental rerun.

    python -m benchmarks.perf.scan_memory [--small 2000] [--large 20000] [--json results.json]

Builds two trees of small generated JPEGs in a temp folder, scans each in a fresh subprocess with
a tiny random model (memory doesn't depend on the weights), and reports the scanning process's
peak RSS (ru_maxrss), the decode workers' peak, and the time of a first scan and of a rerun over
the unchanged tree. Peak RSS should barely move between the two sizes: images and rows stream,
and only the file list grows with the tree.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import make_tree, run_fresh, tiny_checkpoint

MEASURE = """
import json, sys, time
from benchmarks.common import peak_memory_mb
from landmark_tag.pipeline.scan import ScanConfig, scan
started = time.monotonic()
summary = scan(ScanConfig([sys.argv[1]], sys.argv[2], model=sys.argv[3]))
seconds = time.monotonic() - started
print(json.dumps({"seconds": seconds, "processed": summary.processed, **peak_memory_mb()}))
"""


def run_scan(tree: Path, out: Path, model: Path) -> dict:
    return run_fresh(["-c", MEASURE], str(tree), str(out), str(model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tiny_checkpoint(tmp / "model.pt")
        for label, count in (("small", args.small), ("large", args.large)):
            tree = tmp / label
            started = time.monotonic()
            make_tree(tree, count)
            print(f"{label}: {count} photos generated in {time.monotonic() - started:.0f}s", flush=True)
            out = tmp / f"{label}.parquet"
            first = run_scan(tree, out, tmp / "model.pt")
            rerun = run_scan(tree, out, tmp / "model.pt")
            results[label] = {"photos": count, "first": first, "rerun": rerun}
    print("\ntree | photos | main peak MB | worker peak MB | first scan s | rerun s")
    for label, r in results.items():
        first, rerun = r["first"], r["rerun"]
        print(
            f"{label} | {r['photos']} | {first['main_peak_rss_mb']:.0f} | "
            f"{first['workers_peak_rss_mb']:.0f} | {first['seconds']:.1f} | {rerun['seconds']:.1f}"
        )
    small, large = results["small"], results["large"]
    growth = large["first"]["main_peak_rss_mb"] - small["first"]["main_peak_rss_mb"]
    print(f"\npeak RSS growth for {args.large - args.small} more photos: {growth:.0f} MB")
    ratio = large["rerun"]["seconds"] / large["first"]["seconds"]
    print(f"rerun / first scan time on the large tree: {ratio:.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
