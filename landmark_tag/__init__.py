"""landmark-tag: find where photos without GPS were taken, from their GPS, GPS tracks, photos taken
close in time and the landmarks in them.

The Python API, importable from here: `scan` and `ScanConfig` (a scan, as `landmark-tag scan`),
`ScanSummary`, `predict_landmarks` (single images), `read_results` (an output as a DataFrame).
They load on first use, so importing the package (as the command line does) stays quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it
_API = {
    "scan": "landmark_tag.pipeline.scan",
    "ScanConfig": "landmark_tag.pipeline.config",
    "ScanSummary": "landmark_tag.pipeline.scan",
    "predict_landmarks": "landmark_tag.pipeline.execute.predict",
    "read_results": "landmark_tag.files.results",
}
__all__ = ["ScanConfig", "ScanSummary", "__version__", "predict_landmarks", "read_results", "scan"]

if TYPE_CHECKING:
    from landmark_tag.files.results import read_results
    from landmark_tag.pipeline.config import ScanConfig
    from landmark_tag.pipeline.execute.predict import predict_landmarks
    from landmark_tag.pipeline.scan import ScanSummary, scan


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'landmark_tag' has no attribute {name!r}")
