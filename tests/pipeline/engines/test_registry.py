import pytest

from landmark_tag.errors import ConfigError
from landmark_tag.model.checkpoint import load_model
from landmark_tag.pipeline.config import ScanConfig
from landmark_tag.pipeline.engines.local import LocalEngine
from landmark_tag.pipeline.engines.registry import engine_named
from landmark_tag.pipeline.execute.predict import Predictor
from landmark_tag.pipeline.resolve import resolve_scan


def test_engines_are_chosen_by_name():
    assert engine_named("local") is LocalEngine
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        engine_named("spark")


def test_the_ray_driver_builds_no_predictor(tmp_path, tiny_model, monkeypatch):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'landmark-tag[ray]')")

    def refuse(*args, **kwargs):
        raise AssertionError("the driver built a Predictor: only the actors run the model")

    loaded = load_model(tiny_model)
    resolved = resolve_scan(ScanConfig([str(tmp_path)], str(tmp_path / "t.parquet"), engine="ray"), loaded)
    monkeypatch.setattr(Predictor, "__init__", refuse)
    engine_named("ray")(resolved, loaded)  # the driver's engine holds settings, not a model runner
