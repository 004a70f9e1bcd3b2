"""The Ray engine: the same scan on Ray Data, on a local Ray instance shared by these tests.

Each test compares against the local engine or checks what Ray adds (shards, retries, a cluster).
The faults that need a whole Ray of their own (a lost node, a killed driver) run in subprocesses.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from landmark_tag.cli import app
from landmark_tag.files.results import read_results
from landmark_tag.model.checkpoint import load_model, save_checkpoint
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import (
    TINY_PLACES,
    add_landmark_scorer,
    capture_exif,
    gps_exif,
    jpeg_bytes,
    save_photo,
    scene,
    shapes,
    write_tiny_checkpoint,
)

ray = pytest.importorskip("ray", reason="the Ray engine's tests need Ray (pip install 'landmark-tag[ray]')")
pytestmark = pytest.mark.ray

COMPARED = [
    "status",
    "error",
    "gps_latitude",
    "gps_longitude",
    "location_latitude",
    "location_longitude",
    "location_source",
    "location_radius_m",
    "location_note",
    "taken_at",
    "camera",
    "estimated_latitude",
    "estimated_longitude",
    "estimated_country",
    "landmark_1",
    "landmark_2",
    "picture_hashes",
    "copy_of",
]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (the scan uses the instance it finds): 2 decode slots beside one
    1-thread model actor, as `--engine ray` starts on a 2-core machine."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=3, include_dashboard=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


def make_tree(root: Path, count: int = 24, size=(160, 120)) -> Path:
    for i in range(count):  # a minute apart, around the located photo: located by time
        minute = f"2020:06:01 14:{i % 60:02d}:00"
        taken = capture_exif(taken=minute, offset="+02:00", make="Canon", model="EOS")
        save_photo(root / "trip" / f"{i:03d}.jpg", scene(size, seed=i), exif=taken)
    located = capture_exif(gps_exif(48.8584, 2.2945), taken="2020:06:01 14:10:00", offset="+02:00")
    save_photo(root / "located.jpg", shapes(seed=99), exif=located)
    save_photo(root / "sent" / "located-copy.jpg", shapes(seed=99).resize((320, 240)))  # EXIF stripped
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "empty.jpg").write_bytes(b"")
    return root


@pytest.fixture
def tree(tmp_path) -> Path:
    return make_tree(tmp_path / "photos")


@pytest.fixture
def mixed_model(tmp_path, tree) -> Path:
    """Every status is reachable: places for 3 of 4 classes, and a confidence and a landmark-score
    threshold each halfway between two photos' values (never at one, where rounding could decide)."""
    checkpoint = write_tiny_checkpoint(tmp_path / "mixed.pt", places=TINY_PLACES)
    add_landmark_scorer(checkpoint, sorted((tree / "trip").glob("*.jpg"))[::3], threshold=-1.0)
    probe = scan(ScanConfig([str(tree)], str(tmp_path / "probe.parquet"), model=str(checkpoint)))
    rows = sorted_rows(probe.output)
    loaded = load_model(checkpoint)
    loaded.spec.min_confidence = between(rows["probability_1"].dropna(), 0.25)
    loaded.spec.landmark_scorer.threshold = between(rows["landmark_score"].dropna(), 0.5)
    save_checkpoint(checkpoint, loaded.spec, loaded.model.state_dict())
    return checkpoint


def between(values, quantile: float) -> float:
    ordered = sorted(values)
    index = int(len(ordered) * quantile)
    return (ordered[index - 1] + ordered[index]) / 2


def sorted_rows(path: str, storage_options: dict | None = None):
    return read_results(path, storage_options=storage_options).sort_values("path").reset_index(drop=True)


def assert_same_rows(local_out: str, ray_out: str, storage_options: dict | None = None) -> None:
    local, on_ray = sorted_rows(local_out, storage_options), sorted_rows(ray_out, storage_options)
    assert list(local["path"]) == list(on_ray["path"])
    for column in COMPARED:
        assert local[column].equals(on_ray[column]), column  # equals() counts NaN == NaN
    for column in ["probability_1", "probability_2", "landmark_score"]:
        difference = (local[column].fillna(-1) - on_ray[column].fillna(-1)).abs().max()
        assert difference <= 1e-4, column


def test_both_engines_write_the_same_rows(tmp_path, tree, mixed_model):
    local = scan(ScanConfig([str(tree)], str(tmp_path / "local.parquet"), model=str(mixed_model), k=2))
    ray_config = ScanConfig([str(tree)], str(tmp_path / "ray.parquet"), model=str(mixed_model), k=2)
    ray_config.engine, ray_config.commit_rows = "ray", 5  # 5 shards of 5 and one of 2
    on_ray = scan(ray_config)
    assert_same_rows(local.output, on_ray.output)
    assert local.counts == on_ray.counts
    assert on_ray.locations["copy"] == local.locations["copy"] == 1
    statuses = ("tagged", "uncertain", "no_landmark", "skipped_gps", "failed")
    assert all(local.counts[status] for status in statuses), local.counts
    assert (on_ray.engine, local.engine, local.ray_address) == ("ray", "local", None)
    assert on_ray.ray_address == ray.get_runtime_context().gcs_address
    assert not Path(f"{on_ray.output}.parts").exists()


def test_without_a_model_both_engines_write_the_same_rows(tmp_path, tree):
    local = scan(ScanConfig([str(tree)], str(tmp_path / "local.parquet"), landmarks=False))
    ray_config = ScanConfig([str(tree)], str(tmp_path / "ray.parquet"), landmarks=False)
    ray_config.engine, ray_config.commit_rows = "ray", 5
    on_ray = scan(ray_config)
    assert_same_rows(local.output, on_ray.output)
    assert local.counts == on_ray.counts and local.counts["landmarks_off"] > 0
    assert on_ray.device == local.device == "none (landmarks off)"


def summary_fields(summary) -> tuple:
    return (summary.processed, summary.counts, summary.new, summary.changed, summary.retried,
            summary.unchanged, summary.removed, summary.output_rows)  # fmt: skip


def test_incremental_reruns_full_and_prune_behave_the_same(tmp_path, tiny_model):
    trees = {engine: make_tree(tmp_path / engine / "photos", count=10) for engine in ("local", "ray")}

    def run(engine: str, **options) -> tuple:
        out = str(tmp_path / engine / "tags.parquet")
        config = ScanConfig([str(trees[engine])], out, model=str(tiny_model), engine=engine, **options)
        return summary_fields(scan(config))

    def both(**options) -> tuple:
        local, on_ray = run("local", **options), run("ray", **options)
        assert local == on_ray
        return on_ray

    assert both()[0] == 14
    for root in trees.values():  # a new photo, a changed one, a removed one
        save_photo(root / "new.jpg", scene(seed=50))
        save_photo(root / "trip" / "000.jpg", scene((200, 150), seed=51))
        (root / "trip" / "001.jpg").unlink()
    again = both()
    assert (again[0], again[2], again[3], again[6]) == (4, 1, 1, 1)  # + the 2 failed ones retried
    assert both(prune=True)[7] == 14
    assert both(full=True)[0] == 14
    for engine in trees:
        assert sorted_rows(str(tmp_path / engine / "tags.parquet"))["path"].is_unique


def test_sidecars_summary_json_and_report_through_the_cli(tmp_path, tree, mixed_model):
    outputs = {}
    for engine in ("local", "ray"):
        copy = shutil.copytree(tree, tmp_path / engine)
        out, summary = tmp_path / f"{engine}.parquet", tmp_path / f"{engine}.json"
        report = tmp_path / f"{engine}.html"
        arguments = ["scan", str(copy), "--model", str(mixed_model), "--out", str(out), "--write-xmp",
                     "--summary-json", str(summary), "--report", str(report), "--engine", engine]  # fmt: skip
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 0, result.output
        assert report.stat().st_size > 0
        sidecars = {p.relative_to(copy): p.read_bytes() for p in sorted(copy.rglob("*.xmp"))}
        outputs[engine] = (json.loads(summary.read_text()), sidecars)
    (local, local_sidecars), (on_ray, ray_sidecars) = outputs["local"], outputs["ray"]
    assert ray_sidecars and ray_sidecars == local_sidecars
    assert on_ray["sidecars"] == local["sidecars"] and on_ray["sidecars"]["written"] == len(ray_sidecars)
    for field in ("photos", "processed", "counts", "output_rows", "min_confidence", "min_landmark_score"):
        assert on_ray[field] == local[field], field
    assert (on_ray["engine"], on_ray["ray_address"]) == ("ray", ray.get_runtime_context().gcs_address)


def test_a_retried_shard_replaces_its_part_instead_of_adding_rows(tmp_path, tree, tiny_model):
    import pickle

    from landmark_tag.files.discover import discover_photos
    from landmark_tag.model.checkpoint import load_model
    from landmark_tag.pipeline.commit.merge import merge_output
    from landmark_tag.pipeline.engines.ray_stages import ActorSettings, ExamineShard, TaggingActor
    from landmark_tag.pipeline.execute.decode import PhotoDecoder
    from landmark_tag.pipeline.execute.examine import Examiner
    from landmark_tag.pipeline.journal import PartJournal
    from landmark_tag.pipeline.resolve import resolve_scan

    loaded = load_model(tiny_model)
    out = str(tmp_path / "tags.parquet")
    config = ScanConfig([str(tree)], out, engine="ray", precision="fp32", batch_size=4)
    resolved = resolve_scan(config, loaded)
    journal = PartJournal(resolved.output, resolved.k)
    photos = list(discover_photos([str(tree)]))[:6]
    examined = ExamineShard(Examiner(PhotoDecoder(loaded.spec.preprocessing)))(
        {"shard": 7, "photos": pickle.dumps(photos)}
    )
    settings = ActorSettings(ray.put(loaded), resolved, device="cpu", threads=1, run_id=journal.run_id)
    actor = TaggingActor(settings)
    first, retried = actor(examined), actor(examined)  # Ray ran the shard twice
    assert first["part"] == retried["part"] and journal.existing() == [first["part"]]
    assert first["part"].endswith("-shard-000007.parquet")
    assert first["device"] == "cpu (openvino fp32)"  # an actor runs the scan's runtime
    assert merge_output(journal, previous=False, drop=set()).rows == 6


def test_a_killed_model_actor_loses_and_duplicates_nothing(tmp_path, tiny_model):
    """The actor's process is killed while the scan runs: Ray restarts it and retries its shards."""
    root = make_tree(tmp_path / "photos", count=300, size=(320, 240))
    out = tmp_path / "tags.parquet"
    config = ScanConfig([str(root)], str(out), model=str(tiny_model), engine="ray", commit_rows=4)
    done: dict = {}
    runner = threading.Thread(target=lambda: done.update(summary=scan(config)))
    runner.start()
    killed = kill_when_parts_appear(Path(f"{out}.parts"), "TaggingActor", runner)
    runner.join(timeout=300)
    assert killed, "the scan finished before an actor could be killed: give it more photos"
    summary = done["summary"]
    rows = sorted_rows(str(out))
    assert rows["path"].is_unique and len(rows) == summary.output_rows == 304
    assert summary.counts["failed"] == 2  # broken.jpg and empty.jpg only


def worker_pids(name: str) -> list[int]:
    """Ray worker processes whose title names `name` (Ray titles them ray::<task or actor>)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::") and name in title:
                pids.append(int(entry))
    return pids


def kill_when_parts_appear(parts: Path, name: str, runner: threading.Thread) -> bool:
    while runner.is_alive():
        if parts.is_dir() and any(parts.glob("part-*.parquet")):
            pids = worker_pids(name)
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            if pids:
                return True
        time.sleep(0.02)
    return False


def start_driver(root: Path, model: Path, out: Path) -> subprocess.Popen:
    """A Ray-engine scan from the command line, in its own session, once it has committed 3 parts."""
    command = [sys.executable, "-m", "landmark_tag", "scan", str(root), "--model", str(model),
               "--out", str(out), "--engine", "ray", "--commit-every", "4"]  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    parts, deadline = Path(f"{out}.parts"), time.monotonic() + 120
    while not (parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 3):
        if driver.poll() is not None or time.monotonic() > deadline:
            os.killpg(driver.pid, signal.SIGKILL)
            stderr = driver.communicate()[1][-2000:]
            pytest.fail(f"the scan ended or stalled before it could be stopped: {stderr}")
        time.sleep(0.02)
    return driver


def rerun_reuses_the_parts(root: Path, model: Path, out: Path) -> None:
    parts = Path(f"{out}.parts")
    committed = pd.concat([read_results(str(part)) for part in parts.glob("part-*.parquet")])
    kept = int((committed["status"] != "failed").sum())  # failed rows are retried
    assert kept >= 4 and not out.exists()
    rerun = scan(ScanConfig([str(root)], str(out), model=str(model), engine="ray", commit_rows=4))
    assert (rerun.unchanged, rerun.processed) == (kept, 304 - kept)
    rows = sorted_rows(str(out))
    assert rows["path"].is_unique and len(rows) == 304


def test_a_killed_driver_leaves_committed_parts_that_the_rerun_reuses(tmp_path, tiny_model):
    root = make_tree(tmp_path / "photos", count=300, size=(320, 240))
    out = tmp_path / "tags.parquet"
    driver = start_driver(root, tiny_model, out)
    os.killpg(driver.pid, signal.SIGKILL)  # kill -9: the driver and the local Ray it started
    driver.communicate()
    rerun_reuses_the_parts(root, tiny_model, out)


def test_sigterm_stops_a_ray_scan_as_it_stops_a_local_one(tmp_path, tiny_model):
    """Ray's driver would abort on SIGTERM; the scan keeps its own handling: exit 143, rows kept."""
    root = make_tree(tmp_path / "photos", count=300, size=(320, 240))
    out = tmp_path / "tags.parquet"
    driver = start_driver(root, tiny_model, out)
    driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 143, stderr[-2000:]
    assert b"terminated (SIGTERM)" in stderr and b"SIGTERM received" not in stderr
    # Nor Ray's C++ log lines ("[... E 123 123] core_worker.cc:...") on the user's terminal.
    ray_core_line = re.compile(rb"^\[[^\]]* [EWF] \d+ \d+\] \w+\.(?:cc|h):\d+", re.MULTILINE)
    assert not ray_core_line.search(stderr), stderr[-2000:]
    rerun_reuses_the_parts(root, tiny_model, out)


NODE_LOSS = Path(__file__).with_name("ray_node_loss.py")


def test_a_lost_node_loses_and_duplicates_nothing(tmp_path, tiny_model):
    """Two Ray nodes on this machine; the one without the driver is removed mid-scan."""
    root = make_tree(tmp_path / "photos", count=300, size=(320, 240))
    out = tmp_path / "tags.parquet"
    done = subprocess.run(
        [sys.executable, str(NODE_LOSS), str(root), str(tiny_model), str(out)],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Ray's workers log to the driver's stdout too ("(raylet) Task ... will be retried"), even
    # after the report: the report is the script's one JSON line.
    report = json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{")))
    assert report["removed_node_mid_scan"]
    rows = sorted_rows(str(out))
    assert rows["path"].is_unique and len(rows) == report["output_rows"] == 304
    assert report["failed"] == 2


def test_a_bucket_scan_on_ray_reads_and_writes_s3_as_the_local_engine_does(bucket, s3_endpoint, tiny_model):
    pytest.importorskip("s3fs", reason="s3fs is the S3 backend (pip install 'landmark-tag[s3]')")
    client, name = bucket
    for i in range(10):
        client.put_object(Bucket=name, Key=f"photos/{i:03d}.jpg", Body=jpeg_bytes(scene((160, 120), seed=i)))
    located = jpeg_bytes(scene(), exif=gps_exif(48.8584, 2.2945).tobytes())
    client.put_object(Bucket=name, Key="photos/located.jpg", Body=located)
    client.put_object(Bucket=name, Key="photos/broken.jpg", Body=b"not a jpeg")
    # Credentials as options: Ray's workers started before this test set its environment.
    storage = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}

    def run(engine: str, out: str):
        config = ScanConfig([f"s3://{name}/photos"], out, model=str(tiny_model), engine=engine)
        config.storage_options, config.commit_rows = storage, 4
        return scan(config)

    local, on_ray = run("local", f"s3://{name}/local.parquet"), run("ray", f"s3://{name}/ray.parquet")
    assert on_ray.counts == local.counts and on_ray.counts["skipped_gps"] == 1
    assert_same_rows(local.output, on_ray.output, storage)
    assert run("ray", on_ray.output).processed == 1  # only the broken photo is retried
    keys = [entry["Key"] for entry in client.list_objects_v2(Bucket=name)["Contents"]]
    assert not [key for key in keys if ".parts/" in key or key.endswith(".lock")]
