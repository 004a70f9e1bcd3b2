import pytest
import torch

from landmark_tag.model.architectures import SeedCNN, build_model


def test_seed_cnn_shapes():
    model = SeedCNN(50).eval()
    x = torch.randn(2, 3, 224, 224)
    features = model.features(x)
    assert features.flatten(1).shape == (2, 50176)
    assert model(x).shape == (2, 50)
    assert model.classifier[1].in_features == 50176 and model.classifier[1].out_features == 128
    assert isinstance(model.classifier[2], torch.nn.BatchNorm1d)
    assert model.classifier[4].p == 0.25


@pytest.mark.parametrize(
    ("arch", "args"),
    [
        ("landmark_cnn", {"width": 4, "stages": 3}),
        ("timm/tf_efficientnet_lite0", {}),
        ("torchvision/alexnet", {}),
        ("torchvision/resnet18", {}),
    ],
)
def test_build_model_has_requested_classes(arch, args):
    model = build_model(arch, 7, args).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 7)


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("vgg_from_nowhere", 3)
