import os
import signal
import subprocess
import sys
import time

import pytest

from landmark_tag.errors import ConfigError
from landmark_tag.files.results import read_results
from landmark_tag.pipeline.journal import PartJournal, UnreadablePartError
from landmark_tag.pipeline.plan.incremental import IncompatibleOutputError, PruneRefusedError
from landmark_tag.pipeline.plan.lock import OutputLock, ScanLockedError
from landmark_tag.pipeline.scan import ScanConfig, scan
from landmark_tag.pipeline.target import OutputTarget
from tests.helpers import result_rows, save_photo, scene


def make_tree(root, count, start=0, size=(160, 120)):
    for i in range(start, start + count):
        save_photo(root / f"{i // 10:02d}" / f"img_{i:04d}.jpg", scene(size, seed=i), quality=85)
    return root


def run(root, out, model, **options):
    options.setdefault("workers", 0)
    return scan(ScanConfig([str(root)], str(out), model=str(model), **options))


def test_unchanged_tree_processes_nothing_and_keeps_the_output(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 25), tmp_path / "tags.parquet"
    first = run(root, out, tiny_model)
    assert (first.processed, first.new, first.output_rows) == (25, 25, 25)
    before = (out.read_bytes(), out.stat().st_mtime_ns)
    second = run(root, out, tiny_model)
    assert (second.processed, second.unchanged, second.new) == (0, 25, 0)
    assert (out.read_bytes(), out.stat().st_mtime_ns) == before
    assert not (tmp_path / "tags.parquet.parts").exists()
    assert not (tmp_path / "tags.parquet.lock").exists()


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_ten_new_and_one_touched_are_exactly_eleven(tmp_path, tiny_model, suffix):
    root, out = make_tree(tmp_path / "photos", 20), tmp_path / f"tags.{suffix}"
    run(root, out, tiny_model)
    old = read_results(out).set_index("path")
    make_tree(root, 10, start=20)
    touched = root / "00" / "img_0003.jpg"
    os.utime(touched, (time.time() + 5, time.time() + 5))
    summary = run(root, out, tiny_model)
    assert (summary.processed, summary.new, summary.changed, summary.unchanged) == (11, 10, 1, 19)
    frame = read_results(out)
    assert len(frame) == 30 and frame["path"].is_unique
    frame = frame.set_index("path")
    untouched = str(root / "00" / "img_0004.jpg")
    assert frame.loc[untouched, "scanned_at"] == old.loc[untouched, "scanned_at"]
    assert frame.loc[str(touched), "scanned_at"] > old.loc[str(touched), "scanned_at"]


def test_failed_photos_are_retried_and_removed_ones_kept_or_pruned(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 5), tmp_path / "tags.parquet"
    (root / "broken.jpg").write_bytes(b"")
    run(root, out, tiny_model)
    (root / "00" / "img_0001.jpg").unlink()
    summary = run(root, out, tiny_model)
    assert (summary.retried, summary.removed, summary.processed) == (1, 1, 1)
    frame = read_results(out).set_index("path")
    assert len(frame) == 6  # the removed photo keeps its row
    assert frame.loc[str(root / "broken.jpg"), "status"] == "failed"
    pruned = run(root, out, tiny_model, prune=True)
    assert pruned.removed == 1 and pruned.output_rows == 5
    assert str(root / "00" / "img_0001.jpg") not in set(read_results(out)["path"])


def test_prune_over_an_empty_or_mostly_missing_tree_is_refused_unless_forced(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 6), tmp_path / "tags.parquet"
    run(root, out, tiny_model)
    before = out.read_bytes()
    empty = tmp_path / "unmounted"
    empty.mkdir()
    with pytest.raises(PruneRefusedError, match="no photos were found"):
        run(empty, out, tiny_model, prune=True)
    for photo in sorted(root.rglob("*.jpg"))[:4]:  # 4 of 6 gone: more than half
        photo.unlink()
    with pytest.raises(PruneRefusedError, match="4 of the 6 rows"):
        run(root, out, tiny_model, prune=True)
    assert out.read_bytes() == before and not (tmp_path / "tags.parquet.parts").exists()
    assert run(root, out, tiny_model).output_rows == 6  # without --prune, rows are kept as ever
    forced = run(root, out, tiny_model, prune=True, force_prune=True)
    assert forced.removed == 4 and forced.output_rows == 2
    with pytest.raises(ConfigError, match="--force-prune"):
        run(root, out, tiny_model, force_prune=True)


def test_full_rescans_everything(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 6), tmp_path / "tags.parquet"
    run(root, out, tiny_model)
    assert run(root, out, tiny_model, full=True).processed == 6
    assert len(read_results(out)) == 6


def test_other_k_is_refused(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 3), tmp_path / "tags.parquet"
    run(root, out, tiny_model, k=3)
    with pytest.raises(IncompatibleOutputError, match="--k 2"):
        run(root, out, tiny_model, k=2)


def test_parts_of_an_interrupted_run_are_reused(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 12), tmp_path / "tags.parquet"

    class CrashAfterFour:
        done = 0

        def start(self, total):
            pass

        def advance(self, photos):
            self.done += photos
            if self.done >= 4:
                raise RuntimeError("simulated crash")

    config = ScanConfig([str(root)], str(out), model=str(tiny_model), workers=0, batch_size=2, commit_rows=2)
    with pytest.raises(RuntimeError):
        scan(config, CrashAfterFour())
    assert not out.exists()
    assert len(PartJournal(OutputTarget.at(str(out)), 3).existing()) == 2
    summary = run(root, out, tiny_model, batch_size=2)
    assert (summary.processed, summary.unchanged) == (8, 4)
    assert len(read_results(out)) == 12


def test_parts_of_an_interrupted_run_with_another_k_are_discarded_at_the_start(tmp_path, tiny_model, caplog):
    root, out = make_tree(tmp_path / "photos", 6), tmp_path / "tags.parquet"

    class CrashAfterTwo:
        def start(self, total):
            pass

        def advance(self, photos):
            raise RuntimeError("simulated crash")

    config = ScanConfig(
        [str(root)], str(out), model=str(tiny_model), workers=0, batch_size=2, commit_rows=2, k=2
    )
    with pytest.raises(RuntimeError):
        scan(config, CrashAfterTwo())
    assert len(PartJournal(OutputTarget.at(str(out)), 2).existing()) == 1
    summary = run(root, out, tiny_model, k=3)  # another k: those rows cannot be merged
    assert summary.processed == 6 and len(read_results(out)) == 6
    assert (
        "discarded 1 part files" in caplog.text and not PartJournal(OutputTarget.at(str(out)), 3).existing()
    )


def test_an_interrupted_scan_commits_the_rows_it_has(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 12), tmp_path / "tags.parquet"

    class InterruptAfterFour:
        def start(self, total):
            self.done = 0

        def advance(self, photos):
            self.done += photos
            if self.done >= 4:
                raise KeyboardInterrupt

    config = ScanConfig([str(root)], str(out), model=str(tiny_model), workers=0, batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        scan(config, InterruptAfterFour())  # 4 rows made, fewer than the 64 of a commit
    (part,) = PartJournal(OutputTarget.at(str(out)), 3).existing()
    assert len(read_results(part, "parquet")) == 4
    assert run(root, out, tiny_model).processed == 8


def test_concurrent_scan_is_refused(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 2), tmp_path / "tags.parquet"
    with (
        OutputLock(OutputTarget.at(str(out))),
        pytest.raises(ScanLockedError, match="another scan is writing"),
    ):
        run(root, out, tiny_model)
    assert run(root, out, tiny_model).processed == 2  # released on exit


LOCK_AND_HANG = "import sys, time; from landmark_tag.pipeline.plan.lock import OutputLock; from landmark_tag.pipeline.target import OutputTarget; l = OutputLock(OutputTarget.at(sys.argv[1])).__enter__(); print('locked', flush=True); time.sleep(60)"  # noqa: E501


def test_lock_of_a_killed_scan_is_stale(tmp_path):
    out = str(tmp_path / "tags.parquet")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_AND_HANG, out], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(ScanLockedError, match=f"pid {holder.pid}"):
        OutputLock(OutputTarget.at(out)).__enter__()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert os.path.exists(out + ".lock")  # left behind by the crash...
    with OutputLock(OutputTarget.at(out)):  # ...and recognised as stale
        pass


@pytest.mark.slow  # a whole scan in a process killed mid-run, then its rerun
def test_kill_9_mid_run_loses_nothing_and_repeats_nothing(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 10, size=(1600, 1200)), tmp_path / "tags.parquet"
    run(root, out, tiny_model)
    previous = out.read_bytes()
    make_tree(root, 60, start=10, size=(1600, 1200))
    command = [sys.executable, "-m", "landmark_tag", "scan", str(root), "-m", str(tiny_model), "-o", str(out),
               "--batch-size", "2", "--workers", "0", "--commit-every", "2"]  # fmt: skip
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = PartJournal(OutputTarget.at(str(out)), 3)
    deadline = time.monotonic() + 60
    while len(journal.existing()) < 3 and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert out.read_bytes() == previous  # the previous output is intact
    committed = read_results_of_parts(journal)
    assert 0 < len(committed) < 60, "the kill should land mid-run"

    summary = run(root, out, tiny_model, batch_size=2, workers=0)
    assert summary.processed == 60 - len(committed)  # nothing committed is done again
    frame = read_results(out)
    assert len(frame) == 70 and frame["path"].is_unique
    final = frame.set_index("path")
    for path, scanned_at in committed.items():
        assert (
            final.loc[path, "scanned_at"] == scanned_at
        )  # rows written before the kill survive as they were


@pytest.mark.slow  # a whole scan in a process killed mid-run, then its rerun
def test_sigterm_to_the_process_group_commits_releases_the_lock_and_exits_143(tmp_path, tiny_model):
    """As systemd, Kubernetes and Ray stop a job: SIGTERM to the scan and its decode workers."""
    root, out = make_tree(tmp_path / "photos", 40, size=(1600, 1200)), tmp_path / "tags.parquet"
    command = [sys.executable, "-m", "landmark_tag", "scan", str(root), "-m", str(tiny_model), "-o", str(out),
               "--batch-size", "2", "--workers", "2", "--commit-every", "2"]  # fmt: skip
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)  # fmt: skip
    journal = PartJournal(OutputTarget.at(str(out)), 3)
    deadline = time.monotonic() + 60
    while len(journal.existing()) < 2 and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGTERM)
    _, stderr = victim.communicate(timeout=60)
    assert victim.returncode == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    assert "the rows made so far are committed for the next run" in stderr
    committed = read_results_of_parts(journal)
    assert 0 < len(committed) < 40, "the signal should land mid-run"
    with OutputLock(OutputTarget.at(str(out))):  # released
        pass
    summary = run(root, out, tiny_model)
    assert summary.processed == 40 - len(committed) and len(read_results(out)) == 40


def read_results_of_parts(journal: PartJournal) -> dict:
    rows = {}
    for part in journal.existing():
        frame = read_results(part, "parquet")
        rows.update(zip(frame["path"], frame["scanned_at"], strict=True))
    return rows


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_unreadable_existing_output_is_a_clear_error_and_full_overrides_it(tmp_path, tiny_model, suffix):
    root, out = make_tree(tmp_path / "photos", 2), tmp_path / f"tags.{suffix}"
    out.write_bytes(b"\x00garbage that is neither parquet nor our csv")
    with pytest.raises(IncompatibleOutputError, match="--full"):
        run(root, out, tiny_model)
    assert run(root, out, tiny_model, full=True).output_rows == 2


def test_temporary_files_of_a_killed_merge_are_cleaned_up(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 2), tmp_path / "tags.parquet"
    left = [tmp_path / ".tags.parquet.0a1b2c3d4e5f.partial", tmp_path / ".tags.parquet.ffffffffffff.partial"]
    for file in left:
        file.write_bytes(b"half a merge")
    other = tmp_path / ".other.parquet.0a1b2c3d4e5f.partial"  # another output's: not ours to remove
    other.write_bytes(b"x")
    run(root, out, tiny_model)
    assert not any(file.exists() for file in left) and other.exists()


def test_the_merge_keeps_each_photos_newest_row_by_scan_time_not_part_name(tmp_path):
    from landmark_tag.files.results import Status
    from landmark_tag.pipeline.commit.merge import merge_output

    out = str(tmp_path / "tags.parquet")
    journal = PartJournal(OutputTarget.at(out), 2)
    newer, older = result_rows()[0], result_rows()[0]
    newer.scanned_at, older.scanned_at = 2_000_000_000.0, 1_000_000_000.0
    newer.status, older.status = Status.TAGGED, Status.FAILED
    journal.commit([newer], shard=0)  # the first part's name, the latest scan (as Ray's shards can be)
    journal.commit([older], shard=1)
    assert merge_output(journal, previous=False, drop=set()).rows == 1
    assert read_results(out)["status"].tolist() == ["tagged"]


LOCK_FORK_AND_HANG = "import os, sys, time; from landmark_tag.pipeline.plan.lock import OutputLock; from landmark_tag.pipeline.target import OutputTarget; l = OutputLock(OutputTarget.at(sys.argv[1])).__enter__(); child = os.fork(); child or (time.sleep(60), os._exit(0)); print(child, flush=True); time.sleep(60)"  # noqa: E501


def test_a_killed_scans_forked_workers_do_not_keep_its_lock(tmp_path):
    # As the OOM killer does: the scan dies, a decode worker it forked (stuck on a read) lives on.
    out = str(tmp_path / "tags.parquet")
    scan = subprocess.Popen(
        [sys.executable, "-c", LOCK_FORK_AND_HANG, out], stdout=subprocess.PIPE, text=True
    )
    worker = int(scan.stdout.readline())
    try:
        scan.send_signal(signal.SIGKILL)
        scan.wait()
        os.kill(worker, 0)  # the worker, holding the lock file open, is still alive
        with OutputLock(OutputTarget.at(out)):  # the next scan is not refused
            pass
    finally:
        os.kill(worker, signal.SIGKILL)


def test_an_unreadable_part_is_a_clear_error_that_names_it(tmp_path, tiny_model):
    root, out = make_tree(tmp_path / "photos", 2), tmp_path / "tags.parquet"
    parts = tmp_path / "tags.parquet.parts"
    parts.mkdir()
    (parts / "part-00000000000000000001-1-shard-000000.parquet").write_bytes(b"\x00not parquet")
    with pytest.raises(UnreadablePartError, match=r"shard-000000\.parquet .*remove it.*--full"):
        run(root, out, tiny_model)
    assert run(root, out, tiny_model, full=True).output_rows == 2
