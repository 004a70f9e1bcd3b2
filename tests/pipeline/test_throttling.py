"""A store that answers SlowDown: every step of a scan over a bucket (listing, reading photos,
writing parts, the lock, publishing, reading them back, removing them) is throttled, and nothing is
lost or written twice."""

import time

import pytest

from landmark_tag.files.results import read_results
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import exif_with_thumbnail, gps_exif, jpeg_bytes, scene
from tests.throttling_proxy import ThrottlingProxy

pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
pytest.importorskip("s3fs", reason="s3fs is the S3 backend (pip install 'landmark-tag[s3]')")

COLUMNS = ["path", "status", "landmark_1", "probability_1", "gps_latitude", "location_source"]
COLUMNS += ["picture_hashes"]


def upload(client, bucket, prefix, start, count):
    for i in range(start, start + count):
        picture = scene((640, 480), seed=i)
        located = i % 3 == 0  # with GPS and a thumbnail: read by its head
        small = picture.resize((160, 120))
        exif = exif_with_thumbnail(gps_exif(40 + i / 100, 10.0), small) if located else b""
        body = jpeg_bytes(picture, quality=85, exif=exif)
        client.put_object(Bucket=bucket, Key=f"{prefix}/photos/{i:03d}.jpg", Body=body)


def rows(out, storage_options):
    frame = read_results(out, storage_options=storage_options)[COLUMNS].round({"probability_1": 4})
    return frame.sort_values("path").reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 0])  # 0: photos read in the process that commits, counted once
def test_a_throttled_scan_loses_and_duplicates_nothing(bucket, s3_endpoint, tiny_model, workers):
    client, name = bucket
    root = f"workers-{workers}"  # the parameters share a bucket (named after the test)
    upload(client, name, root, 0, 10)
    direct = {"client_kwargs": {"endpoint_url": s3_endpoint}}

    def config(out, options):
        return ScanConfig([f"s3://{name}/{root}/photos"], out, model=str(tiny_model), workers=workers,
                          batch_size=2, commit_rows=3, storage_options=options)  # fmt: skip

    with ThrottlingProxy(s3_endpoint) as proxy:
        throttled = {"client_kwargs": {"endpoint_url": proxy.url}}
        out = f"s3://{name}/{root}/throttled.parquet"
        first = scan(config(out, throttled))
        upload(client, name, root, 10, 5)  # the next night: 5 new photos
        second = scan(config(out, throttled))
    assert {"list", "read", "head", "write", "delete"} <= set(proxy.throttled), proxy.throttled
    assert (first.processed, second.processed, second.output_rows) == (10, 5, 15)
    counted, answered = first.throttled + second.throttled, sum(proxy.throttled.values())
    assert counted == answered, (counted, proxy.throttled)  # every one counted

    calm = f"s3://{name}/{root}/calm.parquet"
    scan(config(calm, direct))
    expected = rows(calm, direct)
    assert len(expected) == 15 and expected["path"].is_unique
    assert rows(out, direct).equals(expected)


def test_a_part_is_written_without_waiting_for_a_100_continue(bucket, s3_endpoint, tmp_path):
    # Such a wait has no timeout in aiohttp: a store that never answers it (as here), or a kept-alive
    # connection closed meanwhile, left a scan waiting for good on a part's upload.
    from landmark_tag.files.storage import publish

    client, name = bucket
    local = tmp_path / "part.parquet"
    local.write_bytes(b"x" * 30_000)
    with ThrottlingProxy(s3_endpoint, kinds=frozenset(), continues=False) as proxy:
        started = time.monotonic()
        publish(str(local), f"s3://{name}/part.parquet", {"client_kwargs": {"endpoint_url": proxy.url}})
        took = time.monotonic() - started
    assert proxy.expected_continue == 0 and took < 5, (proxy.expected_continue, took)  # 5 s: the body timeout
    assert client.get_object(Bucket=name, Key="part.parquet")["Body"].read() == b"x" * 30_000
