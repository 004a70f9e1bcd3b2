import urllib.error

import pytest
import torch
import torchvision

from landmark_tag.model.checkpoint import ModelSpec, load_model, save_checkpoint
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.training.models import (
    PACKAGED_BACKBONES,
    TORCHVISION_BACKBONES,
    WeightsUnavailableError,
    scratch_model,
    transfer_model,
)

ARCHITECTURES = [
    "seed_cnn",
    "landmark_cnn",
    *(f"timm/{timm_name}" for timm_name, _, _ in PACKAGED_BACKBONES.values()),
    *(f"torchvision/{name}" for name in TORCHVISION_BACKBONES),
]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_checkpoint_round_trip_for_every_architecture(tmp_path, arch):
    torch.manual_seed(0)
    spec = ModelSpec(arch=arch, class_names=[f"{i:02d}.Place_{i}" for i in range(5)])
    model = spec.build().eval()
    save_checkpoint(tmp_path / "m.pt", spec, model.state_dict())
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.spec.arch == arch
    for (key, theirs), ours in zip(
        model.state_dict().items(), loaded.model.state_dict().values(), strict=True
    ):
        assert torch.equal(theirs, ours), key
    with torch.no_grad():
        x = torch.randn(1, 3, 224, 224)
        assert torch.allclose(model(x), loaded.model(x), atol=1e-5)
        assert loaded.model(x).shape == (1, 5)


def test_scratch_models():
    assert scratch_model("seed", 50).arch == "seed_cnn"
    assert scratch_model("landmark_cnn", 7).model(torch.randn(2, 3, 224, 224)).shape == (2, 7)
    with pytest.raises(ValueError, match="unknown scratch"):
        scratch_model("vgg", 3)


@pytest.mark.real_weights
def test_packaged_backbone_has_imagenet_features_and_a_zero_head():
    trainable = transfer_model("efficientnet_lite0", 7)
    assert trainable.arch == "timm/tf_efficientnet_lite0"
    assert trainable.preprocessing == Preprocessing(224, 256, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic")
    assert torch.count_nonzero(trainable.model.classifier.weight) == 0
    assert trainable.model.conv_stem.weight.abs().sum() > 0


def test_failed_download_names_the_weights_option(monkeypatch):
    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(WeightsUnavailableError, match="--weights"):
        transfer_model("resnet18", 4)


def test_local_weights_file_replaces_the_download(tmp_path):
    torch.manual_seed(3)
    imagenet = torchvision.models.resnet18(weights=None)
    torch.save(imagenet.state_dict(), tmp_path / "resnet18.pth")
    trainable = transfer_model("resnet18", 4, weights_path=str(tmp_path / "resnet18.pth"))
    assert torch.equal(trainable.model.conv1.weight, imagenet.conv1.weight)
    assert trainable.model.fc.out_features == 4
    assert trainable.arch == "torchvision/resnet18"
    assert trainable.preprocessing.resize_size == 256 and trainable.preprocessing.input_size == 224


def test_bad_weights_file_and_unknown_backbone(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"junk")
    with pytest.raises(WeightsUnavailableError, match="cannot read"):
        transfer_model("resnet18", 4, weights_path=str(tmp_path / "w.pth"))
    with pytest.raises(ValueError, match="unknown backbone"):
        transfer_model("resnet1000", 4)
