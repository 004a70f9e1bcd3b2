from pathlib import Path

import pytest

from tests.helpers import write_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="session")
def _session_runtime_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runtime-cache")


@pytest.fixture(autouse=True)
def _isolated_model_home(tmp_path, monkeypatch, _session_runtime_cache):
    # The default model location must never be a real user's model during tests.
    monkeypatch.setenv("LANDMARK_TAG_HOME", str(tmp_path / "landmark-tag-home"))
    # Nor its cache of built OpenVINO models; one for the session, as a user's machine keeps one.
    monkeypatch.setenv("LANDMARK_TAG_CACHE", str(_session_runtime_cache))
