import json

import pytest
import torch
from PIL import Image

from landmark_tag.training.evaluate import evaluate_checkpoint, save_confusion_png, summarise
from tests.helpers import make_image_folder, write_tiny_checkpoint


def test_metrics_on_a_hand_checked_case():
    # 4 photos, 4 classes. Ranked predictions per photo (best first):
    #   photo 0, true 0: 0 1 2 3 -> top-1 hit
    #   photo 1, true 1: 0 2 1 3 -> top-3 hit
    #   photo 2, true 2: 3 1 0 2 -> top-5 (all 4) hit only
    #   photo 3, true 0: 0 3 2 1 -> top-1 hit
    logits = torch.tensor(
        [[4.0, 3.0, 2.0, 1.0], [4.0, 2.0, 3.0, 1.0], [2.0, 3.0, 1.0, 4.0], [4.0, 1.0, 2.0, 3.0]]
    )
    targets = torch.tensor([0, 1, 2, 0])
    result = summarise(logits, targets, ["a", "b", "c", "d"])
    assert result.top1 == 0.5
    assert result.top3 == 0.75
    assert result.top5 == 1.0
    assert result.per_class_accuracy == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert result.per_class_count == {"a": 2, "b": 1, "c": 1}
    assert result.confusion == [[2, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    expected_loss = torch.nn.functional.cross_entropy(logits, targets).item()
    assert result.loss == pytest.approx(expected_loss)


def test_evaluate_on_class_subset_writes_png_and_json(tmp_path):
    model = write_tiny_checkpoint(tmp_path / "m.pt", class_names=["00.Class_A", "01.Class_B", "02.Class_C"])
    data = make_image_folder(tmp_path / "data", classes=2, per_class=3)  # only A and B
    result = evaluate_checkpoint(model, data, device="cpu", workers=0)
    assert result.photos == 6
    assert set(result.per_class_count) == {"00.Class_A", "01.Class_B"}
    assert len(result.confusion) == 3
    save_confusion_png(result, tmp_path / "cm.png")
    with Image.open(tmp_path / "cm.png") as image:
        assert image.width > 100
    result.to_json(tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["photos"] == 6


def test_unknown_class_folder_is_an_error(tmp_path):
    from landmark_tag.training.data import DatasetError

    model = write_tiny_checkpoint(tmp_path / "m.pt", class_names=["00.Class_A"])
    data = make_image_folder(tmp_path / "data", classes=2, per_class=2)
    with pytest.raises(DatasetError, match="does not know"):
        evaluate_checkpoint(model, data, device="cpu", workers=0)
