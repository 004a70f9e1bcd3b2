import pytest
import torch

from landmark_tag.files.discover import PhotoFile
from landmark_tag.files.results import read_results
from landmark_tag.model.checkpoint import load_model
from landmark_tag.pipeline.engines.tag_shard import ShardTagger
from landmark_tag.pipeline.execute.batch import PhotoBatch
from landmark_tag.pipeline.execute.examine import PhotoItem
from landmark_tag.pipeline.journal import PartJournal
from landmark_tag.pipeline.target import OutputTarget
from tests.helpers import make_predictor


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return make_predictor(load_model(tiny_model), torch.device("cpu"), runtime="torch", precision="fp32")


def batch(shard: int, names: list[str]) -> PhotoBatch:
    items = [PhotoItem(PhotoFile(f"/p/{name}.jpg", 1, 0.0), decoded=True, shard=shard) for name in names]
    return PhotoBatch(items, torch.rand(len(names), 3, 32, 32), shard)


def test_each_shard_is_committed_as_one_part_once_its_batches_are_done(tmp_path, predictor):
    journal = PartJournal(OutputTarget.at(str(tmp_path / "t.parquet")), predictor.k)
    committed, made = [], []
    batches = [batch(3, ["a", "b"]), batch(3, ["c"]), batch(4, ["d", "e"])]
    ShardTagger(predictor, journal).tag_shards(batches, committed.append, made.append)
    assert [(r.shard, sum(r.statuses.values())) for r in committed] == [(3, 3), (4, 2)]
    assert made == [2, 1, 2]
    parts = journal.existing()
    assert [p.rsplit("-", 1)[1] for p in parts] == ["000003.parquet", "000004.parquet"]
    assert read_results(parts[0], "parquet")["path"].tolist() == ["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"]


def test_rows_made_before_the_batches_stop_are_committed_before_the_error_goes_on(tmp_path, predictor):
    journal = PartJournal(OutputTarget.at(str(tmp_path / "t.parquet")), predictor.k)

    def batches():
        yield batch(0, ["a", "b"])
        yield batch(0, ["c"])
        raise KeyboardInterrupt

    committed = []
    with pytest.raises(KeyboardInterrupt):
        ShardTagger(predictor, journal).tag_shards(batches(), committed.append)
    # The model runs a batch ahead: the first batch's rows were made when the stop came, and are
    # committed; the second's were not made (its photos are done again by the next run).
    assert [sum(r.statuses.values()) for r in committed] == [2]
    assert len(read_results(journal.existing()[0], "parquet")) == 2


def test_a_shard_done_again_replaces_its_part(tmp_path, predictor):
    journal = PartJournal(OutputTarget.at(str(tmp_path / "t.parquet")), predictor.k)
    tagger = ShardTagger(predictor, journal)
    first = tagger.tag_shard([batch(9, ["a", "b"])])
    again = tagger.tag_shard([batch(9, ["a", "b"])])
    assert first.part == again.part and journal.existing() == [first.part]
