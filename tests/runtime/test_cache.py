"""The cache of built models: anything at an entry's name, races between processes, a cache that
cannot be written. Builds here are stand-ins (two files), so the cache alone is tested."""

import errno
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path

import pytest

from landmark_tag.runtime import cache as cache_module
from landmark_tag.runtime.cache import MODEL_FILE, WEIGHTS_FILE, cached_build, entry_folder

PARTS = {"checkpoint": "abc", "variant": "fp32"}


def build(folder: Path, pause: float = 0.0) -> dict:
    (folder / MODEL_FILE).write_text("<net/>")
    time.sleep(pause)
    (folder / WEIGHTS_FILE).write_bytes(os.urandom(64))
    return {"built_by": os.getpid()}


@pytest.mark.parametrize("what", ["file", "symlink", "dangling symlink"])
def test_whatever_is_at_an_entrys_name_is_replaced_by_a_sound_entry(tmp_path, what, caplog):
    folder = entry_folder("m", PARTS, tmp_path)
    if what == "file":
        folder.write_text("not an entry")
    else:
        (tmp_path / "elsewhere").mkdir()
        folder.symlink_to(tmp_path / ("elsewhere" if what == "symlink" else "missing"))
    with caplog.at_level(logging.WARNING):
        entry = cached_build("m", PARTS, build, tmp_path)
    assert "building it again" in caplog.text
    assert entry.path == folder and folder.is_dir() and not folder.is_symlink()
    assert (folder / MODEL_FILE).read_text() == "<net/>"
    assert cached_build("m", PARTS, lambda f: pytest.fail("built twice"), tmp_path).path == folder


def use_entry_repeatedly(root: str, rounds: int, failures) -> None:
    for _ in range(rounds):
        entry = cached_build("m", PARTS, lambda f: build(f, pause=0.002), Path(root))
        time.sleep(0.005)  # a scan compiles the model after finding its entry: the window of the race
        try:
            (entry.path / MODEL_FILE).read_text()  # what OpenVINO does next: "Could not open model.xml"
        except OSError:
            failures.value += 1


@pytest.mark.skipif(sys.platform != "linux", reason="forked processes")
def test_processes_racing_over_a_damaged_entry_never_lose_one_another_has_built(tmp_path):
    # Before: a process that found the entry missing, then saw another's just-finished one, took it
    # for damaged and removed it while the other was about to read it (3 failures in 1,200 calls).
    context = multiprocessing.get_context("fork")
    failures = context.Value("i", 0)
    for _ in range(20):
        folder = entry_folder("m", PARTS, tmp_path)
        if folder.exists():
            (folder / WEIGHTS_FILE).write_bytes(b"damaged")
        workers = [
            context.Process(target=use_entry_repeatedly, args=(str(tmp_path), 3, failures)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
    assert failures.value == 0


def test_a_cache_that_is_a_file_builds_in_a_temporary_folder_with_a_warning(tmp_path, caplog):
    root = tmp_path / "cache"
    root.write_text("oops")
    with caplog.at_level(logging.WARNING):
        entry = cached_build("m", PARTS, build, root)
    assert "it is a file, not a folder" in caplog.text and "LANDMARK_TAG_CACHE" in caplog.text
    assert (entry.path / MODEL_FILE).exists() and root not in entry.path.parents


def test_a_read_only_cache_with_no_entry_builds_in_a_temporary_folder(tmp_path, monkeypatch, caplog):
    root = tmp_path / "cache"
    root.mkdir()
    make_folder = cache_module.tempfile.mkdtemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == root:
            raise OSError(errno.EROFS, "Read-only file system")
        return make_folder(*args, dir=dir, **kwargs)

    monkeypatch.setattr(cache_module.tempfile, "mkdtemp", read_only)
    with caplog.at_level(logging.WARNING):
        entry = cached_build("m", PARTS, build, root)
    assert "cannot be written (Read-only file system)" in caplog.text
    assert (entry.path / MODEL_FILE).exists() and root not in entry.path.parents


def test_with_no_writable_folder_at_all_the_scan_runs_pytorch(tiny_model, cache, monkeypatch, caplog):
    import torch

    from landmark_tag.model.checkpoint import load_model
    from landmark_tag.runtime.runners import open_runner

    def nowhere(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cache_module.tempfile, "mkdtemp", nowhere)
    with caplog.at_level(logging.WARNING):
        runner = open_runner(load_model(tiny_model), torch.device("cpu"), "auto", "fp32")
    assert runner.runtime == "torch" and "running the model in PyTorch instead" in caplog.text
