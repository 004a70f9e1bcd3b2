import collections
import copy

import pyarrow as pa
import pyarrow.parquet as pq

from landmark_tag.files import results
from landmark_tag.files.results import Status, read_results
from landmark_tag.pipeline import journal as journal_module
from landmark_tag.pipeline.commit import relocate
from landmark_tag.pipeline.commit.merge import merge_output
from landmark_tag.pipeline.commit.newest import NewestRows
from landmark_tag.pipeline.journal import PartJournal
from landmark_tag.pipeline.target import OutputTarget
from tests.helpers import result_rows


def test_the_newest_row_of_each_path_is_kept_and_dropped_paths_are_not():
    older, newer = result_rows()[:2], result_rows()[:2]
    for row in newer:
        row.scanned_at += 10
    newest = NewestRows()
    newest.add(results.rows_to_table(newer, 2), part=0)  # an earlier part's name, a later scan
    newest.add(results.rows_to_table(older, 2), part=1)
    assert newest.keep(drop=set()).tolist() == [True, True, False, False]
    assert newest.keep(drop={newer[1].path}).tolist() == [True, False, False, False]
    assert newest.paths() == {row.path for row in older}


def test_a_merge_reads_each_part_and_each_staged_file_once(tmp_path, monkeypatch):
    out = str(tmp_path / "tags.parquet")
    journal = PartJournal(OutputTarget.at(out), 2)
    rows = result_rows()
    journal.commit(rows[:2], shard=0)
    assert merge_output(journal, previous=False, drop=set()).rows == 2
    journal.clear()
    again = copy.deepcopy(rows[1])
    again.scanned_at += 10
    again.status = Status.FAILED
    journal.commit([again], shard=0)
    journal.commit(rows[2:], shard=1)
    reads: collections.Counter = collections.Counter()
    real = results.iter_result_batches

    def counted(path, *args, **kwargs):
        reads[str(path)] += 1
        return real(path, *args, **kwargs)

    real_read_files = journal_module.read_files

    def counted_files(paths, *args, **kwargs):
        paths = list(paths)
        reads.update(paths)
        return real_read_files(paths, *args, **kwargs)

    read_table = pq.read_table

    def read_only_fetched(source, *args, **kwargs):  # a file read again by its name would show here
        assert isinstance(source, pa.BufferReader), f"read again: {source}"
        return read_table(source, *args, **kwargs)

    monkeypatch.setattr(relocate, "iter_result_batches", counted)
    monkeypatch.setattr(journal_module, "read_files", counted_files)
    monkeypatch.setattr(pq, "read_table", read_only_fetched)
    parts = journal.existing()
    result = merge_output(journal, previous=True, drop=set())
    assert result.rows == len(rows)
    assert {part: reads[part] for part in parts} == dict.fromkeys(parts, 1)
    staged = [path for path in reads if path.endswith(".partial")]
    assert len(staged) == 2 and all(reads[path] == 1 for path in staged)
    statuses = dict(zip(*read_results(out)[["path", "status"]].T.values.tolist(), strict=True))
    assert statuses[rows[1].path] == "failed" and statuses[rows[0].path] == rows[0].status.value
