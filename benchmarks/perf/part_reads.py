"""How long the commit takes to read a scan's parts back from a bucket: one part after another (as
before) against several at once (`storage.read_files`), side by side in one run, through a local
S3 (moto's server) with a round trip added to every request, as a real bucket has.

    python -m benchmarks.perf.part_reads [--parts 400] [--rows 64] [--latency-ms 0,30] [--ahead 1,4,16]

Writes --parts parts of --rows rows each with the journal, then reads them all with
`PartJournal.read_parts` at each --ahead. Prints parts/s and the time per 100,000 parts.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.common import start_local_s3
from landmark_tag.files.storage import filesystem
from landmark_tag.pipeline.journal import PartJournal
from landmark_tag.pipeline.target import OutputTarget
from tests.helpers import result_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=400)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--latency-ms", default="0,30", help="added to every request, comma-separated")
    parser.add_argument("--ahead", default="1,4,16", help="parts fetched at once, comma-separated")
    args = parser.parse_args()
    start_local_s3()
    import boto3

    boto3.client("s3").create_bucket(Bucket="scans")
    journal = PartJournal(OutputTarget.at("s3://scans/tags.parquet"), 2)
    template = result_rows()
    rows = [template[i % len(template)] for i in range(args.rows)]
    for shard in range(args.parts):
        journal.commit(rows, shard)
    parts = journal.existing()
    store, _ = filesystem(parts[0])  # the instance read_files uses (fsspec keeps one per options)
    latency = [0.0]

    async def round_trip(**_: object) -> None:
        if latency[0]:
            await asyncio.sleep(latency[0])

    store.s3.meta.events.register("before-send.s3", round_trip)
    print(f"{len(parts)} parts of {args.rows} rows, moto's S3 on this machine\n")
    print(f"{'round trip':>10}  {'at once':>7}  {'parts/s':>8}  {'100,000 parts':>13}  vs one at a time")
    for latency_ms in (float(x) for x in args.latency_ms.split(",")):
        latency[0] = latency_ms / 1000
        base = None
        for ahead in (int(x) for x in args.ahead.split(",")):
            started = time.perf_counter()
            read = sum(table.num_rows for table in journal.read_parts(parts, ahead=ahead))
            seconds = time.perf_counter() - started
            assert read == len(parts) * args.rows
            base = base or seconds
            rate = len(parts) / seconds
            minutes, ratio = 100_000 / rate / 60, base / seconds
            print(f"{latency_ms:>8.0f}ms  {ahead:>7}  {rate:>8.0f}  {minutes:>11.1f} m  {ratio:.2f}x")


if __name__ == "__main__":
    main()
