"""The scan over a real S3 API: moto's server on 127.0.0.1, for both input and output."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from landmark_tag.files.results import read_results
from landmark_tag.pipeline.journal import PartJournal
from landmark_tag.pipeline.plan.lock import OutputLock, ScanLockedError
from landmark_tag.pipeline.scan import ScanConfig, scan
from landmark_tag.pipeline.target import OutputTarget
from landmark_tag.report.build import ReportConfig, build_report
from tests.helpers import TINY_PLACES, exif_with_thumbnail, gps_exif, jpeg_bytes, scene, write_tiny_checkpoint

pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs", reason="s3fs is the S3 backend (pip install 'landmark-tag[s3]')")


def upload(client, bucket, count, start=0, size=(160, 120)):
    for i in range(start, start + count):
        client.put_object(
            Bucket=bucket, Key=f"photos/{i:04d}.jpg", Body=jpeg_bytes(scene(size, seed=i), quality=85)
        )


def test_bucket_scan_is_incremental_for_input_and_output(bucket, tiny_model):
    client, name = bucket
    upload(client, name, 8)
    client.put_object(
        Bucket=name, Key="photos/located.jpg", Body=jpeg_bytes(scene(), exif=gps_exif(48.8584, 2.2945))
    )
    client.put_object(Bucket=name, Key="photos/broken.jpg", Body=b"not a jpeg")
    client.put_object(Bucket=name, Key="photos/readme.txt", Body=b"ignored")
    out = f"s3://{name}/tags/tags.parquet"
    config = ScanConfig([f"s3://{name}/photos"], out, model=str(tiny_model), workers=2, batch_size=4)
    first = scan(config)
    assert (first.processed, first.counts, first.ignored_files) == (
        10,
        {"tagged": 8, "uncertain": 0, "no_landmark": 0, "skipped_gps": 1, "landmarks_off": 0, "failed": 1},
        1,
    )
    frame = read_results(out).set_index("path")
    assert frame.loc[f"s3://{name}/photos/located.jpg", "gps_latitude"] == pytest.approx(48.8584, abs=1e-5)
    assert frame.loc[f"s3://{name}/photos/broken.jpg", "error"] == "not a recognised image format"

    assert scan(config).processed == 1  # only the failed photo is retried

    upload(client, name, 10, start=8)
    client.put_object(
        Bucket=name, Key="photos/0000.jpg", Body=jpeg_bytes(scene((200, 150), seed=77))
    )  # changed
    third = scan(config)
    assert (third.new, third.changed, third.retried, third.processed) == (10, 1, 1, 12)
    frame = read_results(out)
    assert len(frame) == 20 and frame["path"].is_unique
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=name, Prefix="tags/")["Contents"]]
    assert keys == ["tags/tags.parquet"]  # no parts or lock left behind


def test_bucket_lock_refuses_a_second_scan_and_expires(bucket, tiny_model):
    client, name = bucket
    upload(client, name, 2)
    out = f"s3://{name}/tags.csv"
    config = ScanConfig([f"s3://{name}/photos"], out, model=str(tiny_model), workers=0)
    with OutputLock(OutputTarget.at(out)), pytest.raises(ScanLockedError, match="another scan"):
        scan(config)
    # A lock left by a crashed scan, whose heartbeat is older than the stale limit, is taken over.
    client.put_object(Bucket=name, Key="tags.csv.lock", Body=b'{"pid": 1, "host": "gone", "heartbeat": 0}')
    assert scan(config).processed == 2


@pytest.mark.slow  # a whole scan in a process killed mid-run, then its rerun
def test_kill_9_over_a_bucket(bucket, tiny_model):
    client, name = bucket
    upload(client, name, 40, size=(1600, 1200))
    out = f"s3://{name}/tags.parquet"
    command = [sys.executable, "-m", "landmark_tag", "scan", f"s3://{name}/photos", "-m", str(tiny_model),
               "-o", out, "--batch-size", "2", "--workers", "0", "--commit-every", "2"]  # fmt: skip
    victim = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy()
    )
    journal = PartJournal(OutputTarget.at(out), 3)
    deadline = time.monotonic() + 90
    while len(journal.existing()) < 3 and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    committed = sum(len(read_results(part, "parquet")) for part in journal.existing())
    assert 0 < committed < 40
    # The killed scan's lock object is still there; its process is gone from this host, so it is stale.
    assert client.head_object(Bucket=name, Key="tags.parquet.lock")
    summary = scan(ScanConfig([f"s3://{name}/photos"], out, model=str(tiny_model), workers=0, batch_size=2))
    assert summary.processed == 40 - committed
    frame = read_results(out)
    assert len(frame) == 40 and frame["path"].is_unique


def test_sidecars_in_a_bucket_are_written_and_merged_through_fsspec(bucket, tmp_path):
    client, name = bucket
    upload(client, name, 3)
    existing = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>
<rdf:li>holiday</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"""
    client.put_object(Bucket=name, Key="photos/0001.xmp", Body=existing)  # the Lightroom-style name
    model = write_tiny_checkpoint(tmp_path / "m.pt", class_names=list(TINY_PLACES), places=TINY_PLACES)
    config = ScanConfig(
        [f"s3://{name}/photos"], str(tmp_path / "t.parquet"), model=str(model), write_xmp=True
    )
    summary = scan(config)
    assert (summary.sidecars.written, summary.sidecars.failed) == (3, 0)
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=name, Prefix="photos/")["Contents"])
    assert keys == [
        "photos/0000.jpg", "photos/0000.jpg.xmp", "photos/0001.jpg", "photos/0001.xmp",
        "photos/0002.jpg", "photos/0002.jpg.xmp",
    ]  # fmt: skip
    merged = client.get_object(Bucket=name, Key="photos/0001.xmp")["Body"].read().decode()
    landmark = read_results(tmp_path / "t.parquet").set_index("path").loc[f"s3://{name}/photos/0001.jpg"]
    assert "<rdf:li>holiday</rdf:li>" in merged and f"<rdf:li>{landmark['landmark_1']}</rdf:li>" in merged


def test_report_of_a_bucket_scan_reads_thumbnails_through_fsspec(bucket, tiny_model, tmp_path):
    client, name = bucket
    upload(client, name, 3)
    out = f"s3://{name}/tags.parquet"
    scan(ScanConfig([f"s3://{name}/photos"], out, model=str(tiny_model), workers=0))
    client.delete_object(Bucket=name, Key="photos/0001.jpg")  # gone by the time of the report
    report = f"s3://{name}/report.html"
    summary = build_report(ReportConfig(out, report, workers=2))
    assert (summary.thumbnails, summary.unavailable) == (2, 1)
    html = client.get_object(Bucket=name, Key="report.html")["Body"].read().decode()
    assert html.count('<img class="thumb" src="data:image/jpeg;base64,') == 2
    assert "photo not available: file not found" in html


def test_two_scans_taking_the_bucket_lock_at_the_same_instant_never_both_get_it(bucket):
    _, name = bucket
    for attempt in range(10):
        out = f"s3://{name}/race-{attempt}.parquet"
        start = threading.Barrier(2)
        outcomes = []

        def take(out=out, start=start, outcomes=outcomes):
            lock = OutputLock(OutputTarget.at(out))
            start.wait()
            try:
                lock.__enter__()
                outcomes.append("held")
            except ScanLockedError:
                outcomes.append("refused")

        threads = [threading.Thread(target=take) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["held", "refused"]


@pytest.mark.parametrize(
    "body", [b"[]", b'"a string"', b'{"heartbeat": null}', b'{"heartbeat": "yesterday"}']
)
def test_a_lock_object_landmark_tag_did_not_write_is_reported_then_taken_over_once_stale(bucket, body):
    client, name = bucket
    out = f"s3://{name}/tags.parquet"
    client.put_object(Bucket=name, Key="tags.parquet.lock", Body=body)
    with pytest.raises(ScanLockedError, match=r"not a lock landmark-tag wrote.*remove it"):
        OutputLock(OutputTarget.at(out)).__enter__()
    time.sleep(1.2)
    with OutputLock(OutputTarget.at(out), stale_after=1.0):  # judged by when it was written: stale now
        held = client.get_object(Bucket=name, Key="tags.parquet.lock")["Body"].read()
        assert b'"token"' in held
    assert "Contents" not in client.list_objects_v2(Bucket=name)  # released


def test_a_heartbeat_in_the_future_does_not_keep_a_lock_fresh_forever(bucket):
    client, name = bucket
    out = f"s3://{name}/tags.parquet"
    future = b'{"pid": 1, "host": "elsewhere", "heartbeat": 99999999999}'
    client.put_object(Bucket=name, Key="tags.parquet.lock", Body=future)
    # The store's LastModified is in whole seconds, so the lock can look up to a second older than
    # it is: 3 seconds leave a slow machine time to find it fresh first.
    with pytest.raises(ScanLockedError, match="another scan"):
        OutputLock(OutputTarget.at(out), stale_after=3.0).__enter__()
    time.sleep(3.2)
    with OutputLock(OutputTarget.at(out), stale_after=3.0):
        pass


def test_a_scan_whose_lock_was_taken_over_stops_and_leaves_the_new_lock(bucket):
    client, name = bucket
    out = f"s3://{name}/tags.parquet"
    first = OutputLock(OutputTarget.at(out), stale_after=1.0).__enter__()
    time.sleep(1.2)
    second = OutputLock(
        OutputTarget.at(out), stale_after=1.0
    ).__enter__()  # the first looked stale: taken over
    first._last_beat -= 120  # the first scan's next heartbeat is due
    with pytest.raises(ScanLockedError, match="took over"):
        first.heartbeat()
    first.release()  # must not delete the second scan's lock
    assert client.head_object(Bucket=name, Key="tags.parquet.lock")
    second.release()
    assert "Contents" not in client.list_objects_v2(Bucket=name)


def test_an_unreachable_store_ends_in_one_line(tmp_path, tiny_model):
    from typer.testing import CliRunner

    from landmark_tag.cli import app

    with socket.socket() as probe:  # a port on this machine that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    quick = 'config_kwargs={"retries": {"max_attempts": 1}}'  # the default retries for a minute
    args = ["scan", "s3://nowhere/photos", "-m", str(tiny_model), "-o", str(tmp_path / "t.parquet"),
            "--endpoint-url", f"http://127.0.0.1:{port}", "--storage-option", quick]  # fmt: skip
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1"}
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"error: the storage at http://127.0.0.1:{port} cannot be reached")


def test_a_missing_bucket_and_refused_credentials_are_told_apart(bucket, tiny_model):
    from landmark_tag.files.storage import StorageError, check_url_exists

    _, name = bucket
    with pytest.raises(StorageError, match="no such file, folder or bucket: s3://no-such-bucket"):
        check_url_exists("s3://no-such-bucket/photos")
    with pytest.raises(StorageError, match=f"no such file, folder or bucket: s3://{name}/nothing-here"):
        check_url_exists(f"s3://{name}/nothing-here")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (PermissionError("InvalidAccessKeyId: The AWS Access Key Id you provided does not exist"), "refused"),
        (PermissionError("SignatureDoesNotMatch"), "refused"),
        (PermissionError("Access Denied"), "permission denied"),
    ],
)
def test_what_the_store_says_of_credentials_is_said_apart(monkeypatch, error, said):
    # moto accepts any key, so the store's own answers stand in: these are s3fs's translations.
    from landmark_tag.files import storage

    class Refusing:
        def info(self, path):
            raise error

    monkeypatch.setattr(storage, "filesystem", lambda url, options=None: (Refusing(), url))
    with pytest.raises(storage.StorageError, match=said):
        storage.check_url_exists("s3://photos/2024")


def test_a_photo_with_gps_in_a_bucket_is_read_by_its_head_and_the_bytes_are_counted(bucket, tiny_model):
    client, name = bucket
    rng = np.random.default_rng(0)
    camera = Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8))  # ~2 MB as JPEG
    exif = exif_with_thumbnail(gps_exif(45.4642, 9.19), camera.resize((160, 120)))
    located, plain = jpeg_bytes(camera, quality=90, exif=exif), jpeg_bytes(scene((800, 600)), quality=90)
    client.put_object(Bucket=name, Key="photos/located.jpg", Body=located)
    client.put_object(Bucket=name, Key="photos/plain.jpg", Body=plain)
    summary = scan(
        ScanConfig([f"s3://{name}/photos"], f"s3://{name}/tags.parquet", model=str(tiny_model), workers=1)
    )
    reads = summary.bytes_read
    assert len(located) > 1_000_000 and reads["located_photos"] == 1
    assert reads["located_bytes"] < 256 * 1024  # the head: EXIF and thumbnail
    assert (reads["other_photos"], reads["other_bytes"]) == (1, len(plain))  # decoded: read once, whole
    row = read_results(f"s3://{name}/tags.parquet").set_index("path").loc[f"s3://{name}/photos/located.jpg"]
    assert isinstance(row["picture_hashes"], str)  # from the thumbnail


def test_a_merge_reads_a_buckets_parts_several_at_once_in_order(bucket):
    import asyncio

    from landmark_tag.files.storage import filesystem
    from tests.helpers import result_rows

    _, name = bucket
    journal = PartJournal(OutputTarget.at(f"s3://{name}/tags.parquet"), 2)
    rows = result_rows()
    for shard in range(12):
        journal.commit([rows[shard % len(rows)]], shard)
    parts = journal.existing()
    store, _ = filesystem(parts[0])  # the one instance the reads use
    in_flight, most, sent = [0], [0], [0]

    async def slow_round_trip(**_):  # a bucket's latency, during which others may start
        sent[0] += 1
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.05)
        in_flight[0] -= 1

    store.s3.meta.events.register("before-send.s3", slow_round_trip)
    try:
        tables = list(journal.read_parts(parts, ahead=4))
        assert (most[0], sent[0]) == (4, 12)  # four at once, never more; one request a part
        assert [t.column("path")[0].as_py() for t in tables] == [rows[s % len(rows)].path for s in range(12)]
        sent[0] = 0
        reading = journal.read_parts(parts, ahead=4)
        assert next(reading).num_rows == 1
        reading.close()  # stopped early (an error in the merge): the rest is never fetched
        time.sleep(0.2)
        assert sent[0] <= 4, sent[0]
    finally:
        store.s3.meta.events.unregister("before-send.s3", slow_round_trip)


@pytest.mark.skipif(sys.platform != "linux", reason="decode workers are forked on Linux")
def test_a_forked_worker_freeing_what_it_inherited_leaves_the_scans_connections_working(bucket, s3_endpoint):
    # A forked child shares its parent's epoll instance: closing the kept-alive connections it
    # inherited (as freeing the clients does) took them out of the parent's, whose next request on
    # one then never heard its answer. The local engine closes its connections before forking.
    import gc

    import aiohttp

    from landmark_tag.files.storage import close_connections, filesystem
    from tests.throttling_proxy import ThrottlingProxy

    _, name = bucket
    with ThrottlingProxy(s3_endpoint, kinds=frozenset()) as proxy:  # keeps connections alive, as S3 does
        options = {"client_kwargs": {"endpoint_url": proxy.url}, "config_kwargs": {"read_timeout": 3}}
        store, _ = filesystem(f"s3://{name}/a", options)
        store.pipe_file(f"{name}/a", b"x")  # a kept-alive connection now
        close_connections()
        child = os.fork()
        if child == 0:
            for thing in gc.get_objects():
                if isinstance(thing, aiohttp.BaseConnector):
                    thing._close()  # what freeing an inherited client does
            os._exit(0)
        os.waitpid(child, 0)
        store, _ = filesystem(f"s3://{name}/b", options)  # as each step asks for it
        started = time.monotonic()
        store.pipe_file(f"{name}/b", b"y")
        assert time.monotonic() - started < 2
