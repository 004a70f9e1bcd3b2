import contextlib
import os

import pytest

from landmark_tag.files.discover import DiscoveryStats, InputNotFoundError, discover_photos


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_finds_image_extensions_case_insensitively_and_counts_others(tmp_path):
    names = ["a.jpg", "b.JPEG", "c.png", "d.WebP", "e.tif", "f.TIFF", "g.bmp", "h.HEIC", "i.heif"]
    for name in names:
        touch(tmp_path / name)
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "movie.mp4")
    stats = DiscoveryStats()
    found = [os.path.basename(p.path) for p in discover_photos([tmp_path], stats=stats)]
    assert found == sorted(names)
    assert stats.photos == len(names)
    assert stats.ignored_files == 2


def test_photos_own_xmp_sidecars_are_not_counted_as_ignored_files(tmp_path):
    touch(tmp_path / "IMG_1.jpg")
    touch(tmp_path / "IMG_1.jpg.xmp")  # what --write-xmp writes
    touch(tmp_path / "notes.xmp")
    stats = DiscoveryStats()
    assert len(list(discover_photos([tmp_path], stats=stats))) == 1
    assert stats.ignored_files == 1


def test_order_is_deterministic_and_recursive(tmp_path):
    for rel in ["z/2.jpg", "a/b/1.jpg", "a/0.jpg", "m.jpg"]:
        touch(tmp_path / rel)
    first = [p.path for p in discover_photos([tmp_path])]
    assert first == [p.path for p in discover_photos([tmp_path])]
    assert [os.path.relpath(p, tmp_path) for p in first] == ["a/0.jpg", "a/b/1.jpg", "m.jpg", "z/2.jpg"]


def test_no_recursive(tmp_path):
    touch(tmp_path / "top.jpg")
    touch(tmp_path / "sub" / "deep.jpg")
    found = [os.path.basename(p.path) for p in discover_photos([tmp_path], recursive=False)]
    assert found == ["top.jpg"]


def test_symlink_loop_terminates_and_lists_each_photo_once(tmp_path):
    touch(tmp_path / "a" / "one.jpg")
    touch(tmp_path / "a" / "b" / "two.jpg")
    os.symlink(tmp_path / "a", tmp_path / "a" / "b" / "loop")
    os.symlink(tmp_path / "a" / "one.jpg", tmp_path / "alias.jpg")
    stats = DiscoveryStats()
    found = [os.path.relpath(p.path, tmp_path) for p in discover_photos([tmp_path], stats=stats)]
    assert sorted(found) == ["a/b/two.jpg", "a/one.jpg"]
    assert stats.skipped_links == 2


def test_a_tree_reached_through_a_symlink_gives_the_same_paths(tmp_path):
    touch(tmp_path / "real" / "one.jpg")
    touch(tmp_path / "real" / "sub" / "two.jpg")
    touch(tmp_path / "elsewhere" / "three.jpg")
    os.symlink(tmp_path / "elsewhere", tmp_path / "real" / "linked")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    direct = [p.path for p in discover_photos([tmp_path / "real"])]
    assert direct == [str(tmp_path / "elsewhere" / "three.jpg"), str(tmp_path / "real" / "one.jpg"),
                      str(tmp_path / "real" / "sub" / "two.jpg")]  # fmt: skip
    assert [p.path for p in discover_photos([tmp_path / "alias"])] == direct
    assert [p.path for p in discover_photos([tmp_path / "alias" / "sub" / "two.jpg"])] == direct[2:]


def test_dangling_symlink_is_ignored(tmp_path):
    os.symlink(tmp_path / "missing.jpg", tmp_path / "dangling.jpg")
    touch(tmp_path / "real.jpg")
    assert [os.path.basename(p.path) for p in discover_photos([tmp_path])] == ["real.jpg"]


def test_hidden_files_ignored_unless_asked(tmp_path):
    touch(tmp_path / "._IMG_0001.jpg")
    touch(tmp_path / ".thumbs" / "t.jpg")
    touch(tmp_path / "IMG_0001.jpg")
    assert len(list(discover_photos([tmp_path]))) == 1
    assert len(list(discover_photos([tmp_path], include_hidden=True))) == 3


def test_files_and_folders_as_inputs_with_size_and_mtime(tmp_path):
    photo = touch(tmp_path / "single.png", b"12345")
    os.utime(photo, (1_700_000_000, 1_700_000_000))
    touch(tmp_path / "dir" / "x.jpg")
    found = list(discover_photos([photo, tmp_path / "dir", photo]))
    assert [os.path.basename(p.path) for p in found] == ["single.png", "x.jpg"]
    assert found[0].size_bytes == 5
    assert found[0].modified_at == 1_700_000_000
    assert os.path.isabs(found[0].path)


def test_missing_input_raises_before_yielding(tmp_path):
    touch(tmp_path / "x.jpg")
    with pytest.raises(InputNotFoundError, match="no such file"):
        next(discover_photos([tmp_path, tmp_path / "nope"]))


def test_a_folder_that_can_be_listed_but_not_entered_is_reported(tmp_path, monkeypatch):
    from landmark_tag.files import discover

    touch(tmp_path / "open" / "a.jpg")
    locked = tmp_path / "locked"
    touch(locked / "b.jpg")
    real_scandir = os.scandir

    class Unenterable:  # what a folder with read but no execute permission gives a non-root user
        def __init__(self, entry):
            self.name, self.path = entry.name, entry.path

        def is_dir(self):
            return False

        def stat(self):
            raise PermissionError(13, "Permission denied", self.path)

    @contextlib.contextmanager
    def scandir(folder):
        with real_scandir(folder) as entries:
            listed = list(entries)
        yield [Unenterable(e) for e in listed] if str(folder) == str(locked) else listed

    monkeypatch.setattr(discover.os, "scandir", scandir)
    stats = DiscoveryStats()
    found = [p.path for p in discover_photos([str(tmp_path)], stats=stats)]
    assert found == [str(tmp_path / "open" / "a.jpg")]
    assert stats.unreadable == [f"{locked}: cannot enter the folder (Permission denied)"]
