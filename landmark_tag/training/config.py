"""What `train` is asked to do (TrainConfig, the `train` command's options) and what it returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from landmark_tag.errors import ConfigError
from landmark_tag.model.openset import DEFAULT_FALSE_TAG_RATE, DEFAULT_LANDMARK_RECALL, LandmarkScorer
from landmark_tag.runtime.int8_check import Int8Check
from landmark_tag.training.calibration import DEFAULT_TARGET_PRECISION, Calibration
from landmark_tag.training.download import DEFAULT_URL
from landmark_tag.training.evaluate import EvaluationResult
from landmark_tag.training.models import DEFAULT_BACKBONE

# (epochs, learning rate) when not given: a frozen head is cheap, fine-tuning needs a gentler rate.
DEFAULT_EPOCHS_AND_LR = {"scratch": (30, 1e-3), "frozen": (40, 2e-3), "finetune": (10, 5e-4)}


@dataclass
class TrainConfig:
    kind: str  # "scratch" or "transfer"
    data: str | None = None  # ImageFolder, or a folder holding train/ (and test/); None downloads
    out: str | None = None  # checkpoint path; None: the default model path the scan reads
    arch: str = "landmark_cnn"  # scratch: landmark_cnn (improved) or seed (the original network)
    backbone: str = DEFAULT_BACKBONE  # transfer
    weights: str | None = None  # local ImageNet weights for the backbone instead of a download
    finetune: bool = False  # transfer: train the whole network, not only the head
    epochs: int | None = None
    batch_size: int = 32
    lr: float | None = None
    backbone_lr_scale: float = 0.1
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    patience: int = 6
    valid_fraction: float = 0.2
    feature_views: int = 2  # frozen backbone: augmented views per training photo, besides the plain one
    limit_per_class: int | None = None  # use at most this many photos per class (quick runs)
    seed: int = 0
    device: str = "auto"
    workers: int | None = None
    resume: bool = False
    gazetteer: str | None = None  # CSV of places for classes the built-in gazetteer does not know
    target_precision: float = DEFAULT_TARGET_PRECISION  # of accepted tags, for the default threshold
    landmark_recall: float = DEFAULT_LANDMARK_RECALL  # of validation landmark photos the score keeps
    # Folders of photos of no landmark (a user's own library will do): the landmark score's
    # threshold keeps their false tags at or below `false_tag_rate`.
    negatives: list[str] = field(default_factory=list)
    false_tag_rate: float = DEFAULT_FALSE_TAG_RATE  # at or below this (with `negatives`)
    download: bool = True
    download_url: str = DEFAULT_URL
    # Build the portable int8 the checkpoint carries: None (auto) where scans on this CPU would run
    # int8 (no native bf16); True for CPUs elsewhere; False never. It costs minutes.
    int8: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.negatives, str | os.PathLike):  # one folder, as earlier versions took it
            self.negatives = [str(self.negatives)]
        self.negatives = [str(folder) for folder in self.negatives or []]
        if self.kind not in ("scratch", "transfer"):
            raise ConfigError(f"unknown training kind {self.kind!r}: use scratch or transfer")
        if self.kind == "scratch" and (self.weights or self.finetune or self.backbone != DEFAULT_BACKBONE):
            raise ConfigError(
                "backbone, weights and finetune (--backbone, --weights, --finetune) apply to transfer "
                "training, not scratch"
            )
        if self.kind == "transfer" and self.arch != "landmark_cnn":
            raise ConfigError(
                "arch (--arch) applies to scratch training; transfer takes a backbone (--backbone)"
            )
        if not 0.0 < self.target_precision <= 1.0:
            raise ConfigError("target_precision (--target-precision) must be in (0, 1]")
        if not 0.0 < self.landmark_recall <= 1.0:
            raise ConfigError("landmark_recall (--landmark-recall) must be in (0, 1]")
        if not 0.0 <= self.false_tag_rate < 1.0:
            raise ConfigError("false_tag_rate (--false-tag-rate) must be in [0, 1)")

    @property
    def mode(self) -> str:
        if self.kind == "scratch":
            return "scratch"
        return "finetune" if self.finetune else "frozen"


@dataclass
class TrainResult:
    checkpoint: Path
    metrics_file: Path
    best_epoch: int
    epochs_run: int
    valid: EvaluationResult
    test: EvaluationResult | None
    calibration: Calibration
    landmark_scorer: LandmarkScorer  # its threshold, and in `fit` how it was chosen
    places: int  # classes with coordinates
    seconds: float
    unplaced: list[str] = field(default_factory=list)  # classes without coordinates: tagged, never located
    int8: Int8Check | None = None  # how int8 compares with fp32; None where none was built
    int8_skipped: str | None = None  # why no int8 was built, where train chose not to build one
