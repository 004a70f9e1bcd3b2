import logging
import os
import re

import numpy as np
import pytest
import torch

from landmark_tag.model.checkpoint import load_model, read_checkpoint, save_checkpoint
from landmark_tag.runtime import int8_models, openvino_model, openvino_runner, quantize, runners
from landmark_tag.runtime.cache import WEIGHTS_FILE
from landmark_tag.runtime.int8_models import int8_model
from landmark_tag.runtime.openvino_model import RuntimeUnavailable, fp32_model
from landmark_tag.runtime.runners import open_runner
from tests.helpers import CLASS_NAMES, make_predictor
from tests.runtime.conftest import int8_verdict, spy_on_searches

CPU = torch.device("cpu")


@pytest.mark.cpu_isa
def test_openvino_fp32_gives_pytorchs_answers(calibrated_model, cache):
    loaded = load_model(calibrated_model)
    pixels = torch.randn(6, 3, 64, 64)
    eager = make_predictor(loaded, CPU, k=len(CLASS_NAMES), precision="fp32", runtime="torch")
    converted = make_predictor(loaded, CPU, k=len(CLASS_NAMES), precision="fp32", runtime="openvino")
    assert (eager.runs_on, converted.runs_on) == ("cpu (torch fp32)", "cpu (openvino fp32)")
    a, b = eager(pixels), converted(pixels)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)
    np.testing.assert_allclose(a.landmark_scores, b.landmark_scores, atol=1e-4)


def test_a_build_is_cached_and_a_changed_checkpoint_is_built_again(calibrated_model, cache, monkeypatch):
    conversions = []
    convert = openvino_model.import_openvino().convert_model

    def counting_convert(*args, **kwargs):
        conversions.append(1)
        return convert(*args, **kwargs)

    monkeypatch.setattr(openvino_model.import_openvino(), "convert_model", counting_convert)
    first = fp32_model(load_model(calibrated_model))
    again = fp32_model(load_model(calibrated_model))
    assert first.path == again.path and len(conversions) == 1
    payload, _ = read_checkpoint(calibrated_model)
    payload["state_dict"] = {name: value + 0.01 for name, value in payload["state_dict"].items()}
    loaded = load_model(calibrated_model)
    save_checkpoint(
        calibrated_model, loaded.spec, payload["state_dict"], calibration_photos=loaded.calibration_photos
    )
    changed = fp32_model(load_model(calibrated_model))
    assert changed.path != first.path and len(conversions) == 2
    entries = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))  # not the lock
    assert entries == sorted([first.path.name, changed.path.name])


def test_the_compiled_model_uses_the_threads_given_and_leaves_them_unpinned(calibrated_model, cache):
    # Pinned, two scans on one machine would compute on the same core (`benchmarks/perf/shared_cpu.py`).
    entry = fp32_model(load_model(calibrated_model))
    compiled = openvino_runner.compile_model(entry.model_file, "fp32", threads=2)
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 2
    assert compiled.get_property("ENABLE_CPU_PINNING") is False


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenVINO runs one stream on one core")
def test_a_batch_split_across_streams_gives_the_answers_of_one_stream(calibrated_model, cache):
    runner = open_runner(load_model(calibrated_model), CPU, "openvino", "fp32")
    pixels = torch.randn(5, 3, 64, 64)
    threads_before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_stream = runner(pixels)
        assert len(runner._requests) == 1
        torch.set_num_threads(2)  # the runner compiles again, for two threads: two streams
        two_streams = runner(pixels)
        assert len(runner._requests) == 2
        fewer_photos_than_streams = runner(pixels[:1])
    finally:
        torch.set_num_threads(threads_before)
        runner.close()
    for one, split in zip(one_stream, two_streams, strict=True):
        np.testing.assert_allclose(one.numpy(), split.numpy(), atol=1e-4)
    np.testing.assert_allclose(fewer_photos_than_streams[0].numpy(), one_stream[0][:1].numpy(), atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_batches_submitted_ahead_each_get_their_own_answers(calibrated_model, cache, threads):
    runner = open_runner(load_model(calibrated_model), CPU, "openvino", "fp32")
    batches = [torch.randn(photos, 3, 64, 64) for photos in (3, 5, 1, 4, 2)]
    threads_before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        expected = [runner(pixels) for pixels in batches]
        assert runner.streams == len(runner._requests) < len(batches)
        # More batches than streams: each submit past the streams waits for the oldest batch.
        started = [runner.submit(pixels) for pixels in batches]
        answers = [batch.result() for batch in reversed(started)][::-1]  # the last asked for first
        left_running = runner.submit(batches[0])
    finally:
        torch.set_num_threads(threads_before)
        runner.close()  # finishes the batch left running
    for (logits, features), (want_logits, want_features) in zip(answers, expected, strict=True):
        np.testing.assert_allclose(logits.numpy(), want_logits.numpy(), atol=1e-4)
        np.testing.assert_allclose(features.numpy(), want_features.numpy(), atol=1e-4)
    np.testing.assert_allclose(left_running.result()[0].numpy(), expected[0][0].numpy(), atol=1e-4)


@pytest.mark.parametrize("spare_core", [True, False])
def test_a_spare_core_runs_a_second_batch_at_once_only_while_wanted(calibrated_model, cache, spare_core):
    runner = open_runner(load_model(calibrated_model), CPU, "openvino", "fp32", spare_core=spare_core)
    batches = [torch.randn(photos, 3, 64, 64) for photos in (3, 5, 1, 4, 2)]
    threads_before = torch.get_num_threads()
    running = []
    try:
        torch.set_num_threads(1)
        expected = [runner(pixels) for pixels in batches]
        started = [runner.submit(batches[0])]
        runner.use_spare_core(True)
        for pixels in batches[1:3]:
            started.append(runner.submit(pixels))
            running.append(len(runner._started))
        runner.use_spare_core(False)
        for pixels in batches[3:]:
            started.append(runner.submit(pixels))
            running.append(len(runner._started))
        streams = runner.streams
        answers = [batch.result() for batch in started]
    finally:
        torch.set_num_threads(threads_before)
        runner.close()
    # A submit past the batches that may run at once waits for the oldest one first.
    assert running == ([2, 2, 1, 1] if spare_core else [1, 1, 1, 1])
    assert streams == (2 if spare_core else 1)  # the spare copy's request, once made
    for (logits, features), (want_logits, want_features) in zip(answers, expected, strict=True):
        np.testing.assert_allclose(logits.numpy(), want_logits.numpy(), atol=1e-4)
        np.testing.assert_allclose(features.numpy(), want_features.numpy(), atol=1e-4)


def test_the_model_is_compiled_for_the_largest_batch_and_smaller_ones_are_padded(
    calibrated_model, cache, monkeypatch
):
    # Compiled for a fixed batch, OpenVINO runs faster (`benchmarks/perf/fixed_batch.py`); a scan's
    # last, smaller batch must neither compile again nor get the padding's answers.
    compiled_for = []
    compile_model = openvino_runner.compile_model

    def counting_compile(model_file, precision, threads, batch=None):
        compiled_for.append(batch)
        compiled = compile_model(model_file, precision, threads, batch)
        assert list(compiled.input(0).get_partial_shape().to_shape()) == [batch, 3, 64, 64]
        return compiled

    monkeypatch.setattr(openvino_runner, "compile_model", counting_compile)
    loaded = load_model(calibrated_model)
    runner = open_runner(loaded, CPU, "openvino", "fp32")
    pixels = torch.randn(8, 3, 64, 64)
    threads_before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        full, last = runner.submit(pixels), runner.submit(pixels[:3])
        answers = full.result(), last.result()
    finally:
        torch.set_num_threads(threads_before)
        runner.close()
    assert compiled_for == [8]
    eager = load_model(calibrated_model).model.eval()
    with torch.no_grad():
        want = eager(pixels)
    assert answers[1][0].shape == (3, len(CLASS_NAMES))
    np.testing.assert_allclose(answers[0][0].numpy(), want.numpy(), atol=1e-4)
    np.testing.assert_allclose(answers[1][0].numpy(), want[:3].numpy(), atol=1e-4)


def test_a_damaged_cache_entry_is_rebuilt_not_trusted(calibrated_model, cache, caplog):
    entry = fp32_model(load_model(calibrated_model))
    weights = entry.path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])  # a crash, a full disk, a bad copy
    with caplog.at_level(logging.WARNING):
        rebuilt = fp32_model(load_model(calibrated_model))
    assert "damaged" in caplog.text
    assert rebuilt.path == entry.path and weights.stat().st_size > 100
    runner = open_runner(load_model(calibrated_model), CPU, "openvino", "fp32")
    assert runner(torch.randn(2, 3, 64, 64))[0].shape == (2, len(CLASS_NAMES))


def test_auto_is_bf16_where_the_cpu_has_it(tiny_model, cache, monkeypatch):
    monkeypatch.setattr(runners, "cpu_has_fast_bf16", lambda: True)
    assert make_predictor(load_model(tiny_model), CPU, k=2).runs_on == "cpu (openvino bf16)"


@pytest.mark.cpu_isa
@pytest.mark.parametrize("dot_product", [True, False], ids=["vnni", "avx2"])
def test_int8_is_built_once_and_runs_where_it_passes_its_check(
    calibrated_model, cache, monkeypatch, dot_product
):
    monkeypatch.setattr(runners, "cpu_has_fast_bf16", lambda: False)  # where int8 is auto's choice,
    monkeypatch.setattr(quantize, "cpu_has_fast_int8", lambda: dot_product)  # with VNNI or AVX2 alone
    int8_verdict(monkeypatch, passed=True)
    searches = spy_on_searches(monkeypatch)
    predictor = make_predictor(load_model(calibrated_model), CPU, k=2, runtime="auto", precision="auto")
    assert predictor.runs_on == "cpu (openvino int8)" and searches == ["direct"]
    top = predictor(torch.randn(3, 3, 64, 64))
    assert top.indices.shape == (3, 2) and top.landmark_scores is not None
    kept = int8_model(load_model(calibrated_model))  # kept in the cache with its verdict
    assert (kept.source, kept.built_now, searches) == ("direct", False, ["direct"])
    check = kept.check
    assert check.passed and check.photos == 12 and check.negatives == 6
    assert check.auroc_fp32 is not None and check.auroc_int8 is not None


def test_the_first_convolutions_stay_in_fp32(calibrated_model, cache):
    loaded = load_model(calibrated_model)
    fp32_file = fp32_model(loaded).model_file
    reference = openvino_runner.run_outputs(loaded, fp32_file, "fp32")
    model = quantize.quantize_int8(loaded, fp32_file, reference, quantize.DIRECT)
    kept = set(quantize.first_convolutions(model, quantize.KEPT_IN_FP32))
    assert len(kept) == quantize.KEPT_IN_FP32
    quantized = set()  # the convolutions whose weights pass through a FakeQuantize
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Convolution", "GroupConvolution"):
            sources = [op.input_value(i).get_node() for i in range(op.get_input_size())]
            if any("FakeQuantize" in n.get_type_name() or "Convert" in n.get_type_name() for n in sources):
                quantized.add(op.get_friendly_name())
    assert quantized and not kept & quantized


def test_int8_that_fails_its_check_falls_back_with_one_warning(calibrated_model, cache, monkeypatch, caplog):
    int8_verdict(monkeypatch, passed=False)
    with caplog.at_level(logging.WARNING):
        predictor = make_predictor(load_model(calibrated_model), CPU, k=2, precision="int8", runtime="auto")
    assert predictor.runs_on == "cpu (openvino fp32)"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "int8 changes this model's decisions" in warnings[0]
    assert "\n" not in warnings[0]


def test_auto_warns_of_a_failed_int8_check_once_per_machine(calibrated_model, cache, monkeypatch, caplog):
    monkeypatch.setattr(runners, "cpu_has_fast_bf16", lambda: False)
    int8_verdict(monkeypatch, passed=False)
    runs = []
    for _ in range(2):  # the first builds and checks int8; the second reads the verdict
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert make_predictor(load_model(calibrated_model), CPU, k=2).runs_on == "cpu (openvino fp32)"
        runs.append([r.levelno for r in caplog.records if "int8 changes" in r.getMessage()])
    assert runs == [[logging.WARNING], [logging.INFO]]


def test_a_build_says_what_it_does_and_how_long_it_took(calibrated_model, cache, caplog):
    with caplog.at_level(logging.INFO):
        int8_model(load_model(calibrated_model), searches=(quantize.DIRECT,))
    lines = [r.getMessage() for r in caplog.records if r.name == int8_models.__name__]
    assert "building int8 of" in lines[0] and "(direct search)" in lines[0]
    assert re.search(
        r"(passed|failed) its check on this CPU \(\d+ s\): decisions differ on \d+ of 18", lines[-1]
    )


def test_a_failed_search_goes_on_to_the_longer_ones_asked_for_and_every_verdict_is_kept(
    calibrated_model, cache, monkeypatch
):
    int8_verdict(monkeypatch, passed=False)
    searches = spy_on_searches(monkeypatch)
    loaded = load_model(calibrated_model)
    assert int8_model(loaded).source == "quick" and searches == ["direct", "quick"]  # auto's searches
    thorough = int8_model(loaded, searches=quantize.SEARCHES)
    assert (thorough.source, thorough.check.passed, thorough.built_now) == ("thorough", False, True)
    assert searches == ["direct", "quick", "thorough"]
    again = int8_model(loaded, searches=quantize.SEARCHES)
    assert (again.source, again.built_now, searches) == ("thorough", False, ["direct", "quick", "thorough"])


def test_an_int8_that_passed_after_a_longer_search_is_what_auto_runs_later(
    calibrated_model, cache, monkeypatch
):
    monkeypatch.setattr(runners, "cpu_has_fast_bf16", lambda: False)
    searches = spy_on_searches(monkeypatch)
    check = int8_models.check_int8

    def only_thorough_passes(fp32, int8, thresholds):
        result = check(fp32, int8, thresholds)
        result.passed = searches[-1] == "thorough"
        return result

    monkeypatch.setattr(int8_models, "check_int8", only_thorough_passes)
    asked = make_predictor(load_model(calibrated_model), CPU, k=2, precision="int8")
    assert asked.runs_on == "cpu (openvino int8)" and searches == ["direct", "quick", "thorough"]
    assert make_predictor(load_model(calibrated_model), CPU, k=2).runs_on == "cpu (openvino int8)"
    assert searches == ["direct", "quick", "thorough"]  # read from the cache, not searched again


def test_a_checkpoint_without_calibration_photos_runs_openvino_without_int8(tiny_model, cache):
    with pytest.raises(RuntimeUnavailable, match="no calibration photos"):
        int8_model(load_model(tiny_model))
    predictor = make_predictor(load_model(tiny_model), CPU, k=2, precision="fp32")
    assert predictor.runs_on == "cpu (openvino fp32)"


def test_openvino_that_cannot_load_falls_back_to_pytorch(tiny_model, cache, monkeypatch, caplog):
    def broken():
        raise RuntimeUnavailable("OpenVINO cannot be loaded (ImportError: libopenvino.so)")

    monkeypatch.setattr(openvino_model, "import_openvino", broken)
    with caplog.at_level(logging.WARNING):
        predictor = make_predictor(load_model(tiny_model), CPU, k=2, precision="fp32")
    assert predictor.runs_on == "cpu (torch fp32)"
    assert "OpenVINO cannot be loaded" in caplog.text and "running the model in PyTorch" in caplog.text
    assert predictor(torch.randn(2, 3, 64, 64)).indices.shape == (2, 2)


def test_a_model_openvino_cannot_convert_falls_back_to_pytorch(tiny_model, cache, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operation aten::something")

    monkeypatch.setattr(openvino_model.import_openvino(), "convert_model", refuse)
    with caplog.at_level(logging.WARNING):
        predictor = make_predictor(load_model(tiny_model), CPU, k=2, precision="int8")
    assert predictor.runs_on.startswith("cpu (torch ")
    assert "could not be converted to OpenVINO" in caplog.text
    assert not list(cache.glob("*fp32*"))  # nothing half-built left behind


def test_refused_combinations(tiny_model):
    from landmark_tag.errors import ConfigError

    loaded = load_model(tiny_model)
    with pytest.raises(ConfigError, match=r"int8 .* runs on the openvino runtime"):
        open_runner(loaded, CPU, "torch", "int8")
    with pytest.raises(ConfigError, match="unknown runtime"):
        open_runner(loaded, CPU, "onnx", "auto")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        open_runner(loaded, torch.device("cuda"), "openvino", "auto")
