from pathlib import Path

import pytest

from tests.helpers import write_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(autouse=True)
def _isolated_model_home(tmp_path, monkeypatch):
    # The default model location must never be a real user's model during tests.
    monkeypatch.setenv("LANDMARK_TAG_HOME", str(tmp_path / "landmark-tag-home"))
