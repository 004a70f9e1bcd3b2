from collections import Counter

import pytest
import torch

from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.training.data import (
    DatasetError,
    PhotoFolderDataset,
    index_image_folder,
    index_negatives,
    stratified_split,
)
from tests.helpers import make_image_folder, make_negatives_folder


def test_stratified_split_is_seeded_and_balanced():
    targets = [0] * 50 + [1] * 30 + [2] * 5
    train, valid = stratified_split(targets, 0.2, seed=3)
    assert (train, valid) == stratified_split(targets, 0.2, seed=3)
    assert valid != stratified_split(targets, 0.2, seed=4)[1]
    assert sorted(train + valid) == list(range(len(targets)))
    assert Counter(targets[i] for i in valid) == {0: 10, 1: 6, 2: 1}


def test_split_keeps_a_training_photo_for_tiny_classes():
    train, _ = stratified_split([0, 0, 1], 0.5, seed=0)
    assert {0, 1} <= {[0, 0, 1][i] for i in train}
    with pytest.raises(ValueError):
        stratified_split([0, 1], 1.0, seed=0)


def test_index_and_datasets(tmp_path):
    root = make_image_folder(tmp_path, classes=2, per_class=3)
    (root / "notes.txt").write_text("ignored: not a folder")
    index = index_image_folder(root)
    assert index.class_names == ["00.Class_A", "01.Class_B"]
    assert index.targets == [0, 0, 0, 1, 1, 1]
    prep = Preprocessing(input_size=32, resize_size=40)
    plain = PhotoFolderDataset(index, prep, train=False)
    assert torch.equal(plain[0][0], plain[0][0])  # evaluation is deterministic
    augmented = PhotoFolderDataset(index, prep, train=True)
    torch.manual_seed(0)
    first = augmented[0][0]
    assert first.shape == (3, 32, 32)
    assert not torch.equal(first, augmented[0][0])


def test_broken_training_photo_is_skipped(tmp_path):
    root = make_image_folder(tmp_path, classes=1, per_class=2)
    (root / "00.Class_A" / "0.jpg").write_bytes(b"broken")
    dataset = PhotoFolderDataset(index_image_folder(root), Preprocessing(32, 40), train=False)
    pixels, target = dataset[0]
    assert pixels.shape == (3, 32, 32) and target == 0


def test_empty_or_missing_folders(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        index_image_folder(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no class folders"):
        index_image_folder(tmp_path)


def test_negatives_come_from_every_folder_given(tmp_path):
    library = make_negatives_folder(tmp_path / "library", per_kind=1)
    others = make_negatives_folder(tmp_path / "other landmarks" / "deep", per_kind=2).parent
    both = index_negatives([library, str(others)])
    assert len(both.paths) == len(index_negatives(library).paths) * 3 and set(both.targets) == {-1}
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty has no photos"):
        index_negatives([library, tmp_path / "empty"])
    with pytest.raises(DatasetError, match="no such folder"):
        index_negatives([tmp_path / "missing"])
    with pytest.raises(DatasetError, match="no folder"):
        index_negatives([])
