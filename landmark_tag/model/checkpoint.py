"""The checkpoint file: the one contract between training and the scan.

A checkpoint is a single `torch.save` file holding plain data only, so it loads with
`torch.load(weights_only=True)` and never runs code from the file:

    format, format_version, spec (architecture, class names, preprocessing, temperature,
    min_confidence, places, landmark_scorer, metadata), state_dict, and optionally training_state
    (optimizer, scheduler, epoch) for `--resume`, and calibration_photos (small crops of training,
    validation and negative photos that build and check an int8 model; see `calibration_photos`),
    and portable_int8 (the int8 OpenVINO model `train` built from these weights, which scans check
    on their own CPU before running it; see `runtime.portable_int8`).

Version 3 added `landmark_scorer` (the open-set score's feature bank and threshold, see `openset`);
version 2 added `min_confidence` and `places`. Older files still load: without a landmark scorer
no photo is judged `no_landmark`; version 1 has no abstention either, and takes its places from the
built-in gazetteer where the class names match.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landmark_tag.errors import CheckpointError, ModelNotFoundError
from landmark_tag.files.paths import default_model_path  # noqa: F401
from landmark_tag.model.architectures import build_model

# The errors and the default path live in torch-free modules, and remain part of this module's API.
from landmark_tag.model.calibration_photos import CalibrationPhotos
from landmark_tag.model.checks import spec_problems
from landmark_tag.model.gazetteer import Place, builtin_gazetteer, display_name, places_for
from landmark_tag.model.openset import LandmarkScorer
from landmark_tag.model.preprocessing import Preprocessing

FORMAT = "landmark-tag/checkpoint"
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


@dataclass
class ModelSpec:
    """Everything needed to rebuild a trained model and read its outputs."""

    arch: str
    class_names: list[str]
    arch_args: dict[str, Any] = field(default_factory=dict)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    # Softmax temperature fitted on validation data; 1.0 means uncalibrated logits.
    temperature: float = 1.0
    # Default abstention threshold: a top-1 probability below it makes a photo `uncertain`.
    min_confidence: float = 0.0
    # class name -> where that landmark is; classes without an entry have no coordinates.
    places: dict[str, Place] = field(default_factory=dict)
    # How much a photo looks like any of the classes; None in checkpoints made before it existed.
    landmark_scorer: LandmarkScorer | None = None
    # Training arguments, metrics and anything else worth keeping with the weights.
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def display_names(self) -> list[str]:
        """What the output calls each class: the gazetteer's name, else the folder name made readable."""
        return [
            self.places[name].name if name in self.places else display_name(name) for name in self.class_names
        ]

    def build(self) -> nn.Module:
        return build_model(self.arch, self.num_classes, self.arch_args)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        data = dict(data)
        data["preprocessing"] = Preprocessing(**data.get("preprocessing", {}))
        if "places" in data:
            data["places"] = {name: Place(**place) for name, place in data["places"].items()}
        else:  # written before checkpoints carried places
            data["places"], _ = places_for(data["class_names"], builtin_gazetteer())
        if data.get("landmark_scorer") is not None:
            data["landmark_scorer"] = LandmarkScorer(**data["landmark_scorer"])
        return cls(**data)


@dataclass
class PortableInt8:
    """An int8 OpenVINO model of the checkpoint's weights (its IR files), and what its build recorded:
    the search that found it and its check, made under AVX2's integer arithmetic."""

    model_xml: bytes
    model_bin: bytes
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_xml": torch.frombuffer(bytearray(self.model_xml), dtype=torch.uint8),
            "model_bin": torch.frombuffer(bytearray(self.model_bin), dtype=torch.uint8),
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PortableInt8:
        xml, weights = (data[key].numpy().tobytes() for key in ("model_xml", "model_bin"))
        return cls(xml, weights, dict(data["details"]))


@dataclass
class LoadedModel:
    """A model ready for inference (eval mode), with its spec and where it came from."""

    model: nn.Module
    spec: ModelSpec
    path: str
    fingerprint: str
    # Written by `train` since int8 inference; None in older checkpoints (int8 is then unavailable).
    calibration_photos: CalibrationPhotos | None = None
    portable_int8: PortableInt8 | None = None  # written by `train` since portable int8

    @property
    def name(self) -> str:
        """What the `model` column of a scan says: architecture and a short hash of the file."""
        return f"{self.spec.arch}@{self.fingerprint}"


def save_checkpoint(
    path: str | os.PathLike,
    spec: ModelSpec,
    state_dict: dict[str, torch.Tensor],
    training_state: dict[str, Any] | None = None,
    calibration_photos: CalibrationPhotos | None = None,
) -> None:
    """Write a checkpoint."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": asdict(spec),
        "state_dict": {key: value.detach().cpu() for key, value in state_dict.items()},
    }
    if training_state is not None:
        payload["training_state"] = training_state
    if calibration_photos is not None:
        payload["calibration_photos"] = calibration_photos.to_dict()
    write_payload(path, payload)


def attach_portable_int8(path: str | os.PathLike, portable: PortableInt8) -> None:
    """Add (or replace) the portable int8 model in the checkpoint at `path`."""
    payload, _ = read_checkpoint(path)
    payload["portable_int8"] = portable.to_dict()
    write_payload(path, payload)


def write_payload(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write a checkpoint's payload atomically: a crash mid-write never leaves a truncated model."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """Read and validate a checkpoint file; return its payload and a short content hash."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelNotFoundError(f"no model file at {path}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    fingerprint = hashlib.sha256(raw).hexdigest()[:12]
    try:
        payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a landmark-tag checkpoint (could not be loaded: {type(exc).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a landmark-tag checkpoint (no '{FORMAT}' marker)")
    version = payload.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}, but this landmark-tag reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; retrain the model or use a matching "
            "landmark-tag release"
        )
    return payload, fingerprint


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint and rebuild its model in eval mode on `device`."""
    payload, fingerprint = read_checkpoint(path)
    try:
        spec = ModelSpec.from_dict(payload["spec"])
        model = spec.build()
        model.load_state_dict(payload["state_dict"])
        photos = payload.get("calibration_photos")
        calibration_photos = CalibrationPhotos.from_dict(photos) if photos is not None else None
        portable = payload.get("portable_int8")
        portable_int8 = PortableInt8.from_dict(portable) if portable is not None else None
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise CheckpointError(f"{path} is a damaged or incompatible checkpoint: {exc}") from None
    if problems := spec_problems(spec, payload["spec"].get("landmark_scorer"), model):
        raise CheckpointError(
            f"{path} is a damaged checkpoint: {'; '.join(problems)}. Train the model again, or restore "
            "the file from a copy"
        )
    model.eval().to(device)
    return LoadedModel(model, spec, str(path), fingerprint, calibration_photos, portable_int8)
