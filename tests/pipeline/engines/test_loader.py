import os

import pytest
import torch

from landmark_tag.files.discover import PhotoFile, discover_photos
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.engines.loader import make_loader
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from landmark_tag.pipeline.execute.examine import Examiner
from landmark_tag.pipeline.shards import cut_shards
from tests.helpers import save_photo, scene

EXAMINER = Examiner(PhotoDecoder(Preprocessing(input_size=64, resize_size=72)))


def photo_file(path) -> PhotoFile:
    st = os.stat(path)
    return PhotoFile(str(path), st.st_size, st.st_mtime)


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_yields_every_photo_in_order_in_batches_that_never_cross_a_shard(tmp_path, workers):
    for i in range(7):
        save_photo(tmp_path / f"{i}.jpg", scene(seed=i))
    (tmp_path / "bad.jpg").write_bytes(b"junk")
    photos = list(discover_photos([tmp_path]))
    shards = cut_shards(photos, 5, first_index=3)  # 5 + 3 photos
    batches = list(make_loader(shards, EXAMINER, batch_size=3, workers=workers))
    assert [item.photo.path for batch in batches for item in batch.items] == [p.path for p in photos]
    assert [(batch.shard, len(batch.items)) for batch in batches] == [(3, 3), (3, 2), (4, 3)]
    assert all(item.shard == batch.shard for batch in batches for item in batch.items)


def test_loader_pixels_match_single_decode(tmp_path):
    path = save_photo(tmp_path / "a.jpg", scene(seed=9))
    shards = cut_shards([photo_file(path)], 64)
    batch = next(iter(make_loader(shards, EXAMINER, batch_size=4, workers=0)))
    assert torch.equal(batch.pixels[0], EXAMINER.decoder(str(path)))
