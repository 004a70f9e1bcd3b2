import numpy as np
import pytest
import torch

from landmark_tag.host import device as device_module
from landmark_tag.host.device import resolve_device, resolve_precision
from landmark_tag.model.checkpoint import load_model
from landmark_tag.pipeline.execute.predict import predict_landmarks
from tests.helpers import CLASS_NAMES, make_predictor, save_photo, scene


def test_topk_is_sorted_softmax(tiny_model):
    loaded = load_model(tiny_model)
    predictor = make_predictor(loaded, torch.device("cpu"), k=3, precision="fp32")
    pixels = torch.randn(5, 3, 64, 64)
    top = predictor(pixels)
    with torch.no_grad():
        full = torch.softmax(loaded.model(pixels), dim=1).numpy()
    assert top.indices.shape == (5, 3)
    assert np.all(np.diff(top.probabilities, axis=1) <= 0)
    np.testing.assert_allclose(top.probabilities, np.take_along_axis(full, top.indices, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(top.indices[:, 0], full.argmax(axis=1))


def test_bf16_inference_stays_close_to_fp32(tiny_model):
    loaded = load_model(tiny_model)
    pixels = torch.randn(8, 3, 64, 64)
    exact = make_predictor(loaded, torch.device("cpu"), k=len(CLASS_NAMES), precision="fp32", runtime="torch")
    fast = make_predictor(loaded, torch.device("cpu"), k=len(CLASS_NAMES), precision="bf16", runtime="torch")
    assert (exact.precision, fast.precision) == ("fp32", "bf16")
    a, b = exact(pixels), fast(pixels)
    by_class_a = np.take_along_axis(a.probabilities, np.argsort(a.indices, axis=1), axis=1)
    by_class_b = np.take_along_axis(b.probabilities, np.argsort(b.indices, axis=1), axis=1)
    np.testing.assert_allclose(by_class_a, by_class_b, atol=0.02)


def test_pixels_handed_over_in_bf16_give_the_same_bf16_results(tiny_model):
    loaded = load_model(tiny_model)
    pixels = torch.randn(8, 3, 64, 64)
    fast = make_predictor(loaded, torch.device("cpu"), k=len(CLASS_NAMES), precision="bf16", runtime="torch")
    assert fast.input_dtype == torch.bfloat16
    a, b = fast(pixels), fast(pixels.to(fast.input_dtype))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)  # bit for bit
    exact = make_predictor(loaded, torch.device("cpu"), k=len(CLASS_NAMES), precision="fp32", runtime="torch")
    assert exact.input_dtype == torch.float32
    assert exact(pixels.bfloat16()).probabilities.dtype == np.float32  # still runs, in fp32


def test_auto_precision_follows_the_hardware(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: False)
    assert (resolve_precision("auto", cpu), resolve_precision("auto", cuda)) == (None, torch.bfloat16)
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == torch.bfloat16
    assert resolve_precision("fp32", cpu) is None and resolve_precision("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp16", cpu)


def test_temperature_softens(tiny_model):
    loaded = load_model(tiny_model)
    sharp = make_predictor(loaded, torch.device("cpu"), k=1)(torch.randn(4, 3, 64, 64) * 5)
    loaded.spec.temperature = 100.0
    soft = make_predictor(loaded, torch.device("cpu"), k=len(CLASS_NAMES))
    probabilities = soft(torch.randn(4, 3, 64, 64) * 5).probabilities
    assert probabilities.max() < 1 / len(CLASS_NAMES) + 0.05
    assert sharp.probabilities.shape == (4, 1)


def test_k_is_capped_at_class_count(tiny_model):
    predictor = make_predictor(load_model(tiny_model), torch.device("cpu"), k=99)
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
