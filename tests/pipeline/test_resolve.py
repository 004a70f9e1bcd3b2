import dataclasses

import pytest
import torch

from landmark_tag.errors import ConfigError
from landmark_tag.host.process import default_batch_size, default_threads
from landmark_tag.model.checkpoint import load_model
from landmark_tag.pipeline.config import ScanConfig
from landmark_tag.pipeline.resolve import resolve_scan
from landmark_tag.runtime import runners


@pytest.fixture(scope="module")
def loaded(tiny_model):
    return load_model(tiny_model)


def test_k_is_clamped_once_and_the_thresholds_come_from_the_checkpoint(tmp_path, loaded):
    resolved = resolve_scan(ScanConfig([str(tmp_path)], str(tmp_path / "t.csv"), k=50), loaded)
    assert resolved.k == loaded.spec.num_classes == resolved.inference.k
    assert resolved.judge.min_confidence == loaded.spec.min_confidence
    scorer = loaded.spec.landmark_scorer
    assert resolved.judge.min_landmark_score == (scorer.threshold if scorer else None)
    assert (resolved.output.path, resolved.output.format) == (str(tmp_path / "t.csv"), "csv")
    cpu = torch.device("cpu")
    assert (resolved.device, resolved.batch_size, resolved.threads) == (
        "cpu",
        default_batch_size(cpu),
        default_threads(cpu),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.workers = 1  # type: ignore[misc]


def test_resolving_opens_no_runner(tmp_path, loaded, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("resolve_scan opened a runner")

    monkeypatch.setattr(runners, "open_runner", refuse)
    monkeypatch.setattr(runners, "build_models", refuse)
    resolve_scan(ScanConfig([str(tmp_path)], str(tmp_path / "t.parquet"), runtime="openvino"), loaded)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"k": 0}, "--k"),
        ({"min_confidence": 1.5}, "--min-confidence"),
        ({"min_landmark_score": 2.0}, "--min-landmark-score"),
        ({"runtime": "onnx"}, "--runtime"),
        ({"precision": "int4"}, "--precision"),
        ({"runtime": "torch", "precision": "int8"}, "--precision"),
        ({"commit_rows": 0}, "--commit-every"),
        ({"output_format": "xlsx"}, "xlsx"),
        ({"gpu_decode": True, "device": "cpu"}, "--gpu-decode"),
        ({"engine": "spark"}, "--engine"),
        ({"force_prune": True}, "--force-prune"),
    ],
)
def test_every_setting_is_checked_here(tmp_path, loaded, options, named):
    with pytest.raises(ConfigError, match=named):
        resolve_scan(ScanConfig([str(tmp_path)], str(tmp_path / "t.parquet"), **options), loaded)


def test_on_ray_the_cluster_decides_the_device_batch_and_threads(tmp_path, loaded):
    config = ScanConfig([str(tmp_path)], str(tmp_path / "t.parquet"), engine="ray")
    resolved = resolve_scan(config, loaded)
    assert (resolved.device, resolved.batch_size, resolved.threads) == ("auto", None, None)
    assert resolved.batch_for(torch.device("cuda")) == default_batch_size(torch.device("cuda"))


@pytest.mark.parametrize(
    ("options", "cores", "spare_core"),
    [
        ({}, 2, True),  # the model has one core, the workers two: one is left idle while they wait
        ({"threads": 1}, 2, False),  # a limit the user chose
        ({"workers": 2}, 2, False),
        ({}, 1, False),  # no core to spare
        ({"engine": "ray"}, 2, False),  # an actor has the CPUs Ray gave it
        ({"device": "cpu"}, 8, True),
    ],
)
def test_the_model_may_take_a_spare_core_only_with_the_default_threads_and_workers(
    tmp_path, loaded, monkeypatch, options, cores, spare_core
):
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    config = ScanConfig([str(tmp_path)], str(tmp_path / "t.parquet"), **options)
    assert resolve_scan(config, loaded).spare_core is spare_core
