import logging
import platform
from pathlib import Path

import torch

from landmark_tag.model.checkpoint import PortableInt8, attach_portable_int8, load_model, save_checkpoint
from landmark_tag.runtime import int8_models, quantize, runners
from landmark_tag.runtime.int8_models import int8_model
from landmark_tag.runtime.openvino_model import fp32_model
from landmark_tag.runtime.portable_int8 import build_portable_int8
from tests.helpers import make_predictor
from tests.runtime.conftest import carry_as_portable_int8, int8_verdict, spy_on_searches

CPU = torch.device("cpu")
TINY_SEARCH = quantize.Search("quick", iterations=2, ranking_photos=4)


def carrying(checkpoint: Path, folder: Path, noise: float) -> Path:
    """`checkpoint` carrying, as its portable int8, the fp32 OpenVINO model of its own weights with
    relative `noise` added (0: exactly its own answers; 0.5: plainly others)."""
    loaded = load_model(checkpoint)
    generator = torch.Generator().manual_seed(0)
    state = {
        name: value * (1 + noise * torch.randn(value.shape, generator=generator))
        if value.dim() > 1
        else value
        for name, value in loaded.model.state_dict().items()
    }
    other = folder / "other.pt"
    save_checkpoint(other, loaded.spec, state, calibration_photos=loaded.calibration_photos)
    carry_as_portable_int8(checkpoint, fp32_model(load_model(other), folder / "elsewhere").model_file)
    return checkpoint


def is_ours(record: logging.LogRecord) -> bool:
    return record.name.startswith("landmark_tag")


def without_int8_dot_product(monkeypatch) -> list[str]:
    """A CPU as AVX2 alone; returns the names of the int8 searches run from now on."""
    monkeypatch.setattr(runners, "cpu_has_fast_bf16", lambda: False)
    monkeypatch.setattr(quantize, "cpu_has_fast_int8", lambda: False)
    return spy_on_searches(monkeypatch)


def test_auto_runs_the_carried_int8_without_an_int8_dot_product_and_searches_nothing(
    calibrated_model, cache, tmp_path, monkeypatch
):
    searches = without_int8_dot_product(monkeypatch)
    checkpoint = carrying(calibrated_model, tmp_path, noise=0.0)
    assert make_predictor(load_model(checkpoint), CPU, k=2).runs_on == "cpu (openvino int8)"
    again = int8_model(load_model(checkpoint), searches=())
    assert (again.source, again.built_now, again.check.passed, again.check.photos) == (
        "portable",
        False,
        True,
        12,
    )
    assert searches == []


def test_a_carried_int8_that_fails_here_is_replaced_by_one_quantized_here(
    calibrated_model, cache, tmp_path, monkeypatch
):
    searches = without_int8_dot_product(monkeypatch)
    checkpoint = carrying(calibrated_model, tmp_path, noise=0.5)
    check = int8_models.check_int8
    verdicts = []

    def only_a_search_here_passes(fp32, int8, thresholds):
        result = check(fp32, int8, thresholds)
        result.passed = bool(searches)
        verdicts.append(result.passed)
        return result

    monkeypatch.setattr(int8_models, "check_int8", only_a_search_here_passes)
    references = []
    run_outputs = int8_models.run_outputs
    monkeypatch.setattr(
        int8_models, "run_outputs", lambda *args: references.append(args[2] == "fp32") or run_outputs(*args)
    )
    assert make_predictor(load_model(checkpoint), CPU, k=2).runs_on == "cpu (openvino int8)"
    assert verdicts == [False, True] and searches == ["direct"]
    assert references.count(True) == 1  # fp32's answers, which every build compares with: once


def test_with_every_int8_failing_auto_runs_fp32_with_one_warning(
    calibrated_model, cache, tmp_path, monkeypatch, caplog
):
    searches = without_int8_dot_product(monkeypatch)
    checkpoint = carrying(calibrated_model, tmp_path, noise=0.5)
    int8_verdict(monkeypatch, passed=False)
    with caplog.at_level(logging.WARNING):
        assert make_predictor(load_model(checkpoint), CPU, k=2).runs_on == "cpu (openvino fp32)"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and is_ours(r)]
    assert len(warnings) == 1 and "int8 changes this model's decisions" in warnings[0]
    assert searches == ["direct", "quick"]


def test_a_carried_int8_this_openvino_cannot_read_is_said_and_searched_past(
    calibrated_model, cache, monkeypatch, caplog
):
    searches = without_int8_dot_product(monkeypatch)
    int8_verdict(monkeypatch, passed=True)  # whatever the tiny random model decides
    attach_portable_int8(calibrated_model, PortableInt8(b"<net>not a model", b"\0" * 8, {}))
    with caplog.at_level(logging.WARNING):
        predictor = make_predictor(load_model(calibrated_model), CPU, k=2)
    assert "cannot run here" in caplog.text
    assert predictor.runs_on == "cpu (openvino int8)" and searches == ["direct"]


def test_the_portable_int8_is_searched_in_a_child_process_under_avx2(calibrated_model, cache, caplog):
    with caplog.at_level(logging.INFO):
        portable = build_portable_int8(calibrated_model, [TINY_SEARCH])
    assert portable is not None
    on_x86 = platform.machine().lower() in ("x86_64", "amd64")
    assert portable.details["isa"] == "AVX2" if on_x86 else portable.details["isa"].startswith("native")
    assert portable.details["search"] == "quick" and portable.details["check"]["photos"] == 12
    assert "building int8 of" in caplog.text  # the child's lines, passed on as progress
    attach_portable_int8(calibrated_model, portable)
    here = int8_model(load_model(calibrated_model), searches=())  # the carried files run here
    assert here.source == "portable" and here.check.photos == 12


def test_a_child_that_cannot_build_says_why_and_builds_nothing(tiny_model, caplog):
    with caplog.at_level(logging.WARNING):
        assert build_portable_int8(tiny_model, [TINY_SEARCH]) is None
    assert "no portable int8 model was built" in caplog.text and "no calibration photos" in caplog.text
