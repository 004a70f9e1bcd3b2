"""Where landmark-tag keeps its files when not told otherwise. No torch here: the CLI names these
paths in its help and error messages without loading the model stack."""

from __future__ import annotations

import os
from pathlib import Path


def default_model_path() -> Path:
    """Where `train` writes and `scan` looks when no --model is given.

    `$LANDMARK_TAG_HOME/model.pt`, else `$XDG_DATA_HOME/landmark-tag/model.pt`,
    else `~/.local/share/landmark-tag/model.pt`.
    """
    home = os.environ.get("LANDMARK_TAG_HOME")
    if home:
        return Path(home).expanduser() / "model.pt"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "landmark-tag" / "model.pt"


def default_data_dir() -> Path:
    """Where `landmark-tag data download` (and `train` without --data) put the dataset."""
    return default_model_path().parent / "data"
