"""Decode workers that die (the OOM killer, kill -9): the scan goes on, and the photo that kills
its worker becomes a `failed` row. Workers inherit the patched `Examiner.__call__` by fork."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

from landmark_tag.files.results import read_results
from landmark_tag.pipeline.engines.worker_loss import WORKER_DIED, DecodeWorkersDyingError, InProgress
from landmark_tag.pipeline.execute.examine import Examiner
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import save_photo, scene

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers inherit the patch by fork")


@pytest.fixture
def tree(tmp_path):
    for i in range(24):
        save_photo(tmp_path / "photos" / f"img_{i:02d}.jpg", scene((160, 120), seed=i))
    return tmp_path / "photos"


def killing_worker(name: str, once_marker=None):
    examine = Examiner.__call__

    def examine_or_die(self, photo):
        if photo.path.endswith(name) and not (once_marker and once_marker.exists()):
            if once_marker:
                once_marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer does
        return examine(self, photo)

    return examine_or_die


def run(tree, out, model, **options):
    return scan(ScanConfig([str(tree)], str(out), model=str(model), workers=2, commit_rows=4, **options))


def test_the_photo_that_kills_its_worker_fails_and_the_scan_goes_on(tmp_path, tree, tiny_model, monkeypatch):
    monkeypatch.setattr(Examiner, "__call__", killing_worker("img_13.jpg"))
    out = tmp_path / "tags.parquet"
    summary = run(tree, out, tiny_model)
    frame = read_results(out).set_index("path")
    assert len(frame) == 24 and summary.counts["failed"] == 1
    assert frame.loc[str(tree / "img_13.jpg"), "error"] == WORKER_DIED
    assert (frame.drop(str(tree / "img_13.jpg"))["status"] == "tagged").all()
    again = run(tree, out, tiny_model)  # failed photos are tried again, and fail again
    assert (again.retried, again.counts["failed"], again.output_rows) == (1, 1, 24)


def test_a_worker_killed_from_outside_costs_nothing(tmp_path, tree, tiny_model, monkeypatch):
    monkeypatch.setattr(Examiner, "__call__", killing_worker("img_05.jpg", tmp_path / "killed-once"))
    summary = run(tree, tmp_path / "tags.parquet", tiny_model)
    assert (tmp_path / "killed-once").exists()  # a worker did die
    assert summary.counts["tagged"] == 24 and summary.output_rows == 24


def test_workers_that_keep_dying_reading_no_photo_end_the_scan_with_rows_kept(
    tmp_path, tree, tiny_model, monkeypatch
):
    monkeypatch.setattr(Examiner, "__call__", killing_worker("img_00.jpg"))
    monkeypatch.setattr(InProgress, "reading", lambda self, index: None)  # deaths no photo explains
    with pytest.raises(DecodeWorkersDyingError, match="died 5 times"):
        run(tree, tmp_path / "tags.parquet", tiny_model)


SCAN_WITH_A_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from landmark_tag.cli import main
    from landmark_tag.pipeline.execute.examine import Examiner
    examine = Examiner.__call__
    def examine_or_die(self, photo):
        if photo.path.endswith("img_07.jpg"):
            os.kill(os.getpid(), signal.SIGKILL)
        return examine(self, photo)
    Examiner.__call__ = examine_or_die
    sys.argv = ["landmark-tag", "scan", *sys.argv[1:]]
    main()
    """
)


def test_the_command_exits_after_a_worker_dies(tmp_path, tree, tiny_model):
    # Before: the DataLoader's error left the other worker waiting, and the process never exited.
    args = [str(tree), "-m", str(tiny_model), "-o", str(tmp_path / "t.parquet"), "--workers", "2"]
    result = subprocess.run(
        [sys.executable, "-c", SCAN_WITH_A_KILLER, *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "a decode process died" in result.stderr and "Traceback" not in result.stderr
    assert len(read_results(tmp_path / "t.parquet")) == 24


def test_a_broken_pipe_counts_as_a_worker_death_only_when_a_worker_is_dead(monkeypatch):
    from landmark_tag.pipeline.engines import worker_loss
    from landmark_tag.pipeline.engines.worker_loss import is_worker_death

    monkeypatch.setattr(worker_loss, "DEATH_SETTLE_SECONDS", 0.2)

    class Worker:
        def __init__(self, alive, seen_alive_first=0):
            self.alive = alive
            self.seen_alive_first = seen_alive_first  # a killed process not yet seen dead

        def is_alive(self):
            self.seen_alive_first -= 1
            return self.alive or self.seen_alive_first >= 0

    class Loader:
        def __init__(self, *alive):
            self._workers = [Worker(a) for a in alive]

    # A worker killed while it wrote a batch: the read fails before PyTorch sees the worker gone.
    assert is_worker_death(ConnectionResetError(104, "reset"), Loader(True, False))
    assert not is_worker_death(ConnectionResetError(104, "reset"), Loader(True, True))  # the network
    late = Loader(True)
    late._workers.append(Worker(False, seen_alive_first=3))  # its socket closed before it was reaped
    assert is_worker_death(ConnectionResetError(104, "reset"), late)
    assert is_worker_death(RuntimeError("DataLoader worker (pid 1) is killed by signal: Killed."))

    class Signalled(Worker):
        def is_alive(self):  # PyTorch's SIGCHLD handler raising the death while it was waited for
            raise RuntimeError("DataLoader worker (pid 2) is killed by signal: Killed.")

    signalled = Loader(True)
    signalled._workers.append(Signalled(True))
    assert is_worker_death(ConnectionResetError(104, "reset"), signalled)
    assert not is_worker_death(RuntimeError("something else"), Loader(False))


class Numbers(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, index):
        return index


def test_a_queue_lock_left_taken_by_an_interrupted_put_does_not_hang_the_shutdown():
    """PyTorch's SIGCHLD handler can raise between a put taking its queue's lock and entering its
    `with` block: the lock stays taken, and the shutdown's own put waited for it for good."""
    from landmark_tag.pipeline.engines.worker_loss import shut_down

    iterator = iter(torch.utils.data.DataLoader(Numbers(), batch_size=4, num_workers=2))
    workers = list(iterator._workers)
    iterator._index_queues[1]._notempty.acquire()  # as the interrupted put left it
    stopping = threading.Thread(target=shut_down, args=(iterator,), daemon=True)
    stopping.start()
    stopping.join(timeout=30)
    assert not stopping.is_alive(), "the shutdown waited for a lock nobody holds"
    assert not any(worker.is_alive() for worker in workers)


def test_an_iterator_whose_making_a_death_interrupted_is_found_and_shut_down(monkeypatch):
    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

    from landmark_tag.pipeline.engines.worker_loss import half_made_iterator, shut_down

    def dying_put(self):  # where the observed death landed: handing the workers their first work
        raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Killed.")

    monkeypatch.setattr(_MultiProcessingDataLoaderIter, "_try_put_index", dying_put)
    with pytest.raises(RuntimeError) as raised:
        iter(torch.utils.data.DataLoader(Numbers(), batch_size=4, num_workers=2))
    iterator = half_made_iterator(raised.value)
    assert isinstance(iterator, _MultiProcessingDataLoaderIter)
    workers = list(iterator._workers)
    assert any(worker.is_alive() for worker in workers)
    shut_down(iterator)
    assert not any(worker.is_alive() for worker in workers)
    assert half_made_iterator(RuntimeError("raised elsewhere")) is None


def test_a_shutdown_interrupted_by_a_death_is_tried_again():
    from landmark_tag.pipeline.engines.worker_loss import shut_down

    class Interrupted:
        def __init__(self):
            self._workers = [object(), object()]
            self.calls = 0

        def _shutdown_workers(self):
            self.calls += 1
            if self.calls == 1:  # SIGCHLD's exception, landing in the shutdown
                raise RuntimeError("DataLoader worker (pid 3) is killed by signal: Killed.")

    iterator = Interrupted()
    shut_down(iterator)
    assert iterator.calls == 2
