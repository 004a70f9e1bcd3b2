# ruff: noqa: E501 (the table printed, one row a line)
"""What a scan reads of real photos in a bucket: bytes per photo with GPS and without, through a
local S3 (moto's server), beside what fsspec's default file (50 MB read-ahead blocks) fetches to
read the same photos' EXIF.

    python -m benchmarks.studies.bucket_reads [--without-gps 60]

Uploads every JPEG of ../shared/data/geoseq-dev (real cameras and a drone, with GPS) and
--without-gps real photos without GPS from otherlm-dev, scans them with the default settings
(copies on; no landmark model, so photos without GPS are decoded for their hashes only), and
prints the scan's own count of bytes read (the summary's `bytes_read`), by group. Nothing is kept.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import fsspec

from benchmarks.common import start_local_s3
from landmark_tag.files.reads import HEAD_BYTES
from landmark_tag.files.results import read_results
from landmark_tag.locating.exif import read_exif
from landmark_tag.pipeline.scan import ScanConfig, scan

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _fsspec_head_bytes(url: str) -> int:
    """Bytes fsspec's default S3 file fetches for a photo's EXIF (what scans read before)."""
    with fsspec.open(url, "rb").open() as handle:
        read_exif(handle)
        return handle.cache.total_requested_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--without-gps", type=int, default=60)
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"this study needs the real photos in {SHARED}")
    server = start_local_s3()
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket="photos")
    groups = {
        folder.name: sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
        for folder in sorted((SHARED / "geoseq-dev").iterdir())
        if folder.is_dir()
    }
    others = sorted(p for p in (SHARED / "otherlm-dev").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    groups["otherlm-dev (no GPS)"] = others[: args.without_gps]
    print(f"head read first: {HEAD_BYTES // 1024} KiB\n")
    print(
        "| photos | count | object size, mean | read by the scan, mean per photo | fsspec's default file, for the EXIF alone | with picture hashes |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for group, paths in groups.items():
        prefix = group.split()[0]
        for number, path in enumerate(paths):
            client.put_object(Bucket="photos", Key=f"{prefix}/{number:04d}.jpg", Body=path.read_bytes())
        with tempfile.TemporaryDirectory() as tmp:
            summary = scan(
                ScanConfig([f"s3://photos/{prefix}"], str(Path(tmp) / "tags.parquet"), landmarks=False)
            )
            hashed = int(read_results(Path(tmp) / "tags.parquet")["picture_hashes"].notna().sum())
        reads = summary.bytes_read
        photos = reads.get("located_photos", 0) + reads.get("other_photos", 0)
        read = reads.get("located_bytes", 0) + reads.get("other_bytes", 0)
        before = [_fsspec_head_bytes(f"s3://photos/{prefix}/{n:04d}.jpg") for n in range(len(paths))]
        size = sum(p.stat().st_size for p in paths) / len(paths)
        print(
            f"| {group} ({reads.get('located_photos', 0)} with GPS) | {photos} | {size / 1024:,.0f} KB | "
            f"{read / photos / 1024:,.0f} KB | {sum(before) / len(before) / 1024:,.0f} KB | {hashed} |"
        )
    server.stop()


if __name__ == "__main__":
    main()
