import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torchvision.transforms import v2 as transforms

from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.model.transforms import eval_transform, interpolation_mode
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from tests.helpers import scene


def torchvision_eval_transform(preprocessing: Preprocessing) -> transforms.Compose:
    """The evaluation transform as torchvision's classification presets write it."""
    mode = interpolation_mode(preprocessing.interpolation)
    return transforms.Compose(
        [
            transforms.Resize(preprocessing.resize_size, interpolation=mode, antialias=True),
            transforms.CenterCrop(preprocessing.input_size),
            transforms.PILToTensor(),
            transforms.ToDtype(torch.float32, scale=True),
            transforms.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear", "nearest"])
@pytest.mark.parametrize("size", [(864, 576), (576, 864), (300, 300), (256, 384), (1001, 457), (241, 999)])
def test_the_eval_transform_gives_torchvisions_pixels(size, interpolation):
    preprocessing = Preprocessing(input_size=224, resize_size=256, interpolation=interpolation)
    image = scene(size, seed=sum(size))
    ours = eval_transform(preprocessing)(image)
    theirs = torchvision_eval_transform(preprocessing)(image)
    assert ours.shape == theirs.shape == (3, 224, 224) and ours.dtype == torch.float32
    assert ours.is_contiguous()
    difference = (ours - theirs).abs()
    one_level = 1 / (255 * min(preprocessing.std))
    # The same resampling of the same pixels: at most one 8-bit level apart, and almost never that.
    assert difference.max() <= one_level + 1e-6
    assert difference.mean() <= one_level / 1000


def test_the_eval_transform_normalises_as_torchvision_does_to_the_bit():
    # An int8 model's input quantizer rounds 8-bit pixels at exact midpoints: last bits matter.
    preprocessing = Preprocessing(input_size=16, resize_size=16, mean=(0.5, 0.4, 0.3), std=(0.5, 0.25, 0.2))
    image = scene((16, 16), seed=3)
    ours = eval_transform(preprocessing)(image)
    assert torch.equal(ours, torchvision_eval_transform(preprocessing)(image))
    mean, std = np.array([0.5, 0.4, 0.3])[:, None, None], np.array([0.5, 0.25, 0.2])[:, None, None]
    expected = (np.asarray(image).transpose(2, 0, 1) / 255 - mean) / std
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-5)


def test_the_photo_decoder_pickles_for_workers_started_by_spawn():
    # Decode workers started by spawn (macOS, Windows) or on Ray receive the decoder pickled.
    decoder = PhotoDecoder(Preprocessing(input_size=32, resize_size=40))
    image = scene((90, 60), seed=5)
    copy = pickle.loads(pickle.dumps(decoder))
    assert torch.equal(copy.pixels(image), decoder.pixels(image))


def test_an_image_of_extreme_shape_is_cropped_before_it_is_enlarged(tmp_path):
    # Enlarged whole, a 30000x1 PNG's short side to 256 took about 9 GB; under a limit of 300 MB
    # more address space than the process has, it must decode. One process for the three shapes
    # (starting one costs seconds).
    paths = []
    for size in [(30000, 1), (1, 30000), (20000, 3)]:
        paths.append(str(tmp_path / f"strip-{size[0]}x{size[1]}.png"))
        scene(size, seed=1).save(paths[-1])
    script = f"""
import resource
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.execute.decode import PhotoDecoder
decoder = PhotoDecoder(Preprocessing(input_size=224, resize_size=256))
with open("/proc/self/statm") as statm:
    mapped = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (mapped + 300_000_000, resource.RLIM_INFINITY))
for path in {paths!r}:
    print(path, tuple(decoder(path).shape), flush=True)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert result.stdout.splitlines() == [f"{path} (3, 224, 224)" for path in paths]
