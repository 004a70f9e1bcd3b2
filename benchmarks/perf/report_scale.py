"""How a report scales: 2,000 and 20,000 photos, thumbnails embedded and in an assets folder.

    python -m benchmarks.perf.report_scale [--small 2000] [--large 20000] [--json results.json]

Writes a scan output of N rows in a temp folder (rows as a scan writes them, for photos that are
200 distinct generated 640x480 JPEGs under N names, linked), then builds each report in a fresh
subprocess and records its time, peak RSS of the report process and of its thumbnail workers,
and the HTML size; with Chromium installed, also how long headless Chromium takes to load the
page and dump its DOM, as a rough measure of whether the page stays usable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import run_fresh
from landmark_tag.files.results import ResultRow, Status
from landmark_tag.pipeline.commit.write import ResultWriter
from landmark_tag.pipeline.target import OutputTarget

MEASURE = """
import json, sys, time
from benchmarks.common import peak_memory_mb
from landmark_tag.report.build import ReportConfig, build_report
started = time.monotonic()
summary = build_report(ReportConfig(sys.argv[1], sys.argv[2], assets_dir=sys.argv[3] or None))
seconds = time.monotonic() - started
print(json.dumps({"seconds": seconds, "thumbnails": summary.thumbnails, **peak_memory_mb()}))
"""

STATUSES = [Status.TAGGED] * 7 + [Status.UNCERTAIN, Status.SKIPPED_GPS, Status.FAILED]


def make_output(folder: Path, count: int, distinct: list[Path]) -> Path:
    photos = folder / "photos"
    photos.mkdir(parents=True)
    rows = []
    for i in range(count):
        path = photos / f"IMG_{i:06d}.jpg"
        os.link(distinct[i % len(distinct)], path)
        status = STATUSES[i % len(STATUSES)]
        row = ResultRow(str(path), status, path.stat().st_size, path.stat().st_mtime, time.time(), "bench@0")
        if status in (Status.TAGGED, Status.UNCERTAIN):
            row.landmarks = [f"Landmark {i % 50}", f"Landmark {(i + 1) % 50}", f"Landmark {(i + 2) % 50}"]
            row.probabilities = [0.8, 0.15, 0.05]
        if status is Status.TAGGED:
            row.estimated_latitude, row.estimated_longitude, row.estimated_country = 48.8584, 2.2945, "FR"
        if status is Status.SKIPPED_GPS:
            row.gps_latitude, row.gps_longitude = 41.89, 12.49
        if status is Status.FAILED:
            row.error = "not a recognised image format"
        rows.append(row)
    out = folder / "tags.parquet"
    with ResultWriter(OutputTarget.at(str(out)), k=3) as writer:
        writer.write(rows)
    return out


def chromium_seconds(report: Path) -> float | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    started = time.monotonic()
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={report.parent / 'chromium'}", "--dump-dom", report.resolve().as_uri()],
        capture_output=True, check=True, timeout=600,
    )  # fmt: skip
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="landmark-tag-report-") as tmp:
        root = Path(tmp)
        distinct = []
        for i in range(200):
            rng = np.random.default_rng(i)
            array = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
            path = root / f"distinct_{i}.jpg"
            Image.fromarray(array).resize((640, 480), Image.BICUBIC).save(path, quality=90)
            distinct.append(path)
        for count in (args.small, args.large):
            output = make_output(root / str(count), count, distinct)
            for mode in ("embedded", "assets"):
                report = root / str(count) / f"report-{mode}.html"
                assets = str(root / str(count) / "assets") if mode == "assets" else ""
                measured = run_fresh(["-c", MEASURE], str(output), str(report), assets)
                result = {"rows": count, "thumbnails_mode": mode, **measured}
                result["html_mb"] = report.stat().st_size / 1e6
                result["chromium_load_seconds"] = chromium_seconds(report)
                results.append(result)
                print(json.dumps(result), flush=True)
    print("\n| rows | thumbnails | made | time | report peak RSS | workers peak RSS | HTML | Chromium load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        load = f"{r['chromium_load_seconds']:.1f} s" if r["chromium_load_seconds"] is not None else "-"
        print(
            f"| {r['rows']:,} | {r['thumbnails_mode']} | {r['thumbnails']:,} | {r['seconds']:.1f} s | "
            f"{r['main_peak_rss_mb']:.0f} MB | {r['workers_peak_rss_mb']:.0f} MB | "
            f"{r['html_mb']:.1f} MB | {load} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
