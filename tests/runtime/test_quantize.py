"""What NNCF is asked for: the overflow fix by CPU, and each search's budget."""

import nncf
import pytest
from nncf.quantization.advanced_parameters import OverflowFix

from landmark_tag.model.checkpoint import load_model
from landmark_tag.runtime import quantize
from landmark_tag.runtime.int8_check import RunOutputs
from landmark_tag.runtime.openvino_model import fp32_model


@pytest.mark.parametrize(
    ("dot_product", "search", "overflow_fix", "ranking_photos", "iterations"),
    [
        (True, quantize.QUICK, OverflowFix.FIRST_LAYER, 16, 8),
        (False, quantize.QUICK, OverflowFix.ENABLE, 16, 8),
        (True, quantize.THOROUGH, OverflowFix.FIRST_LAYER, 12, 25),  # every validation photo
    ],
)
def test_nncf_is_asked_for_what_the_cpu_and_the_search_need(
    calibrated_model, cache, monkeypatch, dot_product, search, overflow_fix, ranking_photos, iterations
):
    asked = {}

    def record(model, **options):
        asked.update(options)
        return model

    monkeypatch.setattr(nncf, "quantize_with_accuracy_control", record)
    monkeypatch.setattr(quantize, "cpu_has_fast_int8", lambda: dot_product)
    loaded = load_model(calibrated_model)
    unused = RunOutputs(None, None, None, None)  # type: ignore[arg-type]
    quantize.quantize_int8(loaded, fp32_model(loaded).model_file, unused, search)
    restorer = asked["advanced_accuracy_restorer_parameters"]
    assert asked["advanced_quantization_parameters"].overflow_fix == overflow_fix
    assert (restorer.ranking_subset_size, restorer.max_num_iterations) == (ranking_photos, iterations)


@pytest.mark.parametrize(
    ("dot_product", "overflow_fix"), [(True, OverflowFix.FIRST_LAYER), (False, OverflowFix.ENABLE)]
)
def test_the_direct_search_quantizes_once_keeping_the_first_convolutions(
    calibrated_model, cache, monkeypatch, dot_product, overflow_fix
):
    asked = {}

    def record(model, **options):
        asked.update(options)
        return model

    monkeypatch.setattr(nncf, "quantize", record)
    monkeypatch.setattr(nncf, "quantize_with_accuracy_control", lambda *a, **k: pytest.fail("not a search"))
    monkeypatch.setattr(quantize, "cpu_has_fast_int8", lambda: dot_product)
    loaded = load_model(calibrated_model)
    unused = RunOutputs(None, None, None, None)  # type: ignore[arg-type]
    model = quantize.quantize_int8(loaded, fp32_model(loaded).model_file, unused, quantize.DIRECT)
    assert asked["advanced_parameters"].overflow_fix == overflow_fix
    assert asked["ignored_scope"].names == quantize.first_convolutions(model, quantize.KEPT_IN_FP32)
    assert len(asked["ignored_scope"].names) == quantize.KEPT_IN_FP32
