import numpy as np
import pytest
import torch

from landmark_tag.checkpoint import load_model
from landmark_tag.pipeline.predict import Predictor, predict_landmarks, resolve_device
from tests.helpers import CLASS_NAMES, save_photo, scene


def test_topk_is_sorted_softmax(tiny_model):
    loaded = load_model(tiny_model)
    predictor = Predictor(loaded, torch.device("cpu"), k=3)
    pixels = torch.randn(5, 3, 64, 64)
    top = predictor(pixels)
    with torch.no_grad():
        full = torch.softmax(loaded.model(pixels), dim=1).numpy()
    assert top.indices.shape == (5, 3)
    assert np.all(np.diff(top.probabilities, axis=1) <= 0)
    np.testing.assert_allclose(top.probabilities, np.take_along_axis(full, top.indices, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(top.indices[:, 0], full.argmax(axis=1))


def test_temperature_softens(tiny_model):
    loaded = load_model(tiny_model)
    sharp = Predictor(loaded, torch.device("cpu"), k=1)(torch.randn(4, 3, 64, 64) * 5)
    loaded.spec.temperature = 100.0
    soft = Predictor(loaded, torch.device("cpu"), k=len(CLASS_NAMES))
    probabilities = soft(torch.randn(4, 3, 64, 64) * 5).probabilities
    assert probabilities.max() < 1 / len(CLASS_NAMES) + 0.05
    assert sharp.probabilities.shape == (4, 1)


def test_k_is_capped_at_class_count(tiny_model):
    predictor = Predictor(load_model(tiny_model), torch.device("cpu"), k=99)
    assert predictor.k == len(CLASS_NAMES)


def test_predict_landmarks_api(tmp_path, tiny_model):
    good = save_photo(tmp_path / "good.jpg", scene(seed=2))
    (tmp_path / "bad.jpg").write_bytes(b"")
    results = predict_landmarks([good, tmp_path / "bad.jpg"], k=2, model=tiny_model)
    assert [len(r.guesses) for r in results] == [2, 0]
    assert results[0].guesses[0].probability >= results[0].guesses[1].probability
    assert results[0].guesses[0].landmark in {"Red Fort", "Blue Lagoon", "Green Park", "Grey Tower"}
    assert results[1].error


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
