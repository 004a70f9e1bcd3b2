import io
import os

import pytest

from landmark_tag.files.reads import HEAD_BYTES, PhotoReader, open_photo


class Recorded:
    """A fetch over `content` that records the ranges asked for."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.ranges: list[tuple[int, int | None]] = []

    def __call__(self, start: int, end: int | None) -> bytes:
        self.ranges.append((start, end))
        return self.content[start:end]


CONTENT = os.urandom(5 * HEAD_BYTES + 123)


def test_the_head_is_one_request_and_reads_inside_it_fetch_nothing_more():
    fetch = Recorded(CONTENT)
    reader = PhotoReader(fetch, len(CONTENT))
    file = reader.file
    assert file.read(10) == CONTENT[:10]
    file.seek(HEAD_BYTES - 100)
    assert file.read(100) == CONTENT[HEAD_BYTES - 100 : HEAD_BYTES]
    assert fetch.ranges == [(0, HEAD_BYTES)]
    assert reader.bytes_read == HEAD_BYTES


def test_a_read_past_the_head_doubles_it_fetching_only_the_bytes_not_yet_fetched():
    fetch = Recorded(CONTENT)
    reader = PhotoReader(fetch, len(CONTENT))
    file = reader.file
    file.read(10)
    file.seek(HEAD_BYTES + 5)
    assert file.read(10) == CONTENT[HEAD_BYTES + 5 : HEAD_BYTES + 15]
    assert fetch.ranges == [(0, HEAD_BYTES), (HEAD_BYTES, 2 * HEAD_BYTES)]


def test_read_whole_fetches_the_rest_in_one_request_and_every_byte_once():
    fetch = Recorded(CONTENT)
    reader = PhotoReader(fetch, len(CONTENT))
    file = reader.file
    file.read(100)
    reader.read_whole()
    file.seek(0)
    assert file.read() == CONTENT
    assert fetch.ranges == [(0, HEAD_BYTES), (HEAD_BYTES, None)]
    assert reader.bytes_read == len(CONTENT)


def test_growing_never_asks_past_the_listed_size_and_a_seek_from_the_end_reads_the_end():
    small = CONTENT[: HEAD_BYTES + 10]
    fetch = Recorded(small)
    reader = PhotoReader(fetch, len(small))
    file = reader.file
    assert file.read(5) == small[:5]
    assert file.seek(-4, io.SEEK_END) == len(small) - 4  # as listed: nothing fetched to know it
    assert fetch.ranges == [(0, HEAD_BYTES)]
    assert file.read() == small[-4:]
    assert fetch.ranges == [(0, HEAD_BYTES), (HEAD_BYTES, None)]


def test_a_file_shorter_than_listed_ends_where_it_ends():
    fetch = Recorded(CONTENT[:1000])
    reader = PhotoReader(fetch, len(CONTENT))
    file = reader.file
    assert file.read(5000) == CONTENT[:1000]
    assert file.read(10) == b""
    assert len(fetch.ranges) == 1


def test_open_photo_reads_a_local_file_as_it_is(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(CONTENT)
    with open_photo(str(path), len(CONTENT)) as reader:
        file = reader.file
        assert file.read(3) == CONTENT[:3]
        reader.read_whole()
        assert file.read() == CONTENT[3:]
        assert reader.bytes_read == len(CONTENT)
    with pytest.raises(FileNotFoundError):
        open_photo(str(tmp_path / "gone.jpg"), 10)


def test_a_snapshot_of_the_readers_frames_does_not_keep_it_from_growing():
    # As a profiler or a monitor does (sys._current_frames while a fetch waits): the frames outlive
    # the calls, with their locals, and a view of the fetched bytes left open would keep them from
    # growing ("BufferError: Existing exports of data").
    import sys

    snapshots = []

    def fetch(start, end):
        snapshots.append(sys._current_frames())
        return CONTENT[start:end]

    file = PhotoReader(fetch, len(CONTENT)).file
    assert file.read(10) == CONTENT[:10]
    file.seek(HEAD_BYTES + 5)
    assert file.read(10) == CONTENT[HEAD_BYTES + 5 : HEAD_BYTES + 15]
    assert file.read() == CONTENT[HEAD_BYTES + 15 :]
