"""The steps of `train()` around `fit()`: find and split the data, build the model (and resume it),
prepare what `fit` trains on (for a frozen backbone, its features, computed once), and, after
training, the best model's outputs that calibration and the landmark score are fitted on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from landmark_tag.errors import ConfigError, message_of
from landmark_tag.model.architectures import last_linear_name
from landmark_tag.model.checkpoint import LoadedModel, read_checkpoint
from landmark_tag.training.data import (
    DatasetError,
    ImageFolderIndex,
    PhotoFolderDataset,
    index_image_folder,
    limit_per_class,
    stratified_split,
)
from landmark_tag.training.download import ByteProgress, DownloadError, download_dataset
from landmark_tag.training.evaluate import photo_outputs
from landmark_tag.training.features import HeadSwap, extract_features
from landmark_tag.training.loop import FitConfig, TrainReporter
from landmark_tag.training.models import TrainableModel, scratch_model, transfer_model

if TYPE_CHECKING:
    from landmark_tag.training.config import TrainConfig

logger = logging.getLogger(__name__)


def sidecar_paths(out: Path) -> tuple[Path, Path]:
    """(resume checkpoint, per-epoch metrics CSV) kept beside the output checkpoint."""
    return out.with_name(out.stem + ".last.pt"), out.with_name(out.stem + ".metrics.csv")


def resolve_data(
    config: TrainConfig, download_progress: ByteProgress | None = None
) -> tuple[Path, Path | None]:
    """(training ImageFolder, test ImageFolder or None)."""
    if config.data:
        root = Path(config.data).expanduser()
    elif config.download:
        try:
            root = download_dataset(url=config.download_url, progress=download_progress)
        except DownloadError as exc:
            raise DownloadError(
                f"{exc}. To train without downloading, give a local copy of the photos (--data DIR): "
                "one folder per landmark, or train/ and test/ folders of those"
            ) from None
    else:
        raise DatasetError("no --data folder was given, and --no-download forbids fetching the dataset")
    if (root / "train").is_dir():
        test = root / "test"
        return root / "train", test if test.is_dir() else None
    return root, None


def build_model(config: TrainConfig, num_classes: int) -> TrainableModel:
    if config.kind == "scratch":
        return scratch_model(config.arch, num_classes)
    return transfer_model(config.backbone, num_classes, config.weights)


def check_resumable(saved_args: dict[str, Any], config: TrainConfig) -> None:
    for key in ("kind", "arch", "backbone", "finetune", "seed", "valid_fraction", "limit_per_class"):
        if saved_args.get(key) != getattr(config, key):
            raise ConfigError(
                f"cannot resume: the interrupted run used {key}={saved_args.get(key)!r}, "
                f"this one {getattr(config, key)!r}"
            )


def read_resume_state(config: TrainConfig, model: nn.Module, last_path: Path) -> dict[str, Any] | None:
    """With --resume, load the interrupted run's weights into `model` and return its training
    state (optimizer, schedule, early stopping) for `fit`; else None."""
    if not config.resume:
        return None
    if not last_path.exists():
        raise ConfigError(f"nothing to resume (--resume): no {last_path} from an interrupted run")
    payload, _ = read_checkpoint(last_path)
    check_resumable(payload["spec"]["metadata"].get("train_args", {}), config)
    model.load_state_dict(payload["state_dict"])
    return payload["training_state"]


@dataclass
class DataSplit:
    class_names: list[str]
    train: ImageFolderIndex
    valid: ImageFolderIndex
    test_root: Path | None  # a test/ folder beside train/, when the data has one


def split_data(config: TrainConfig, download_progress: ByteProgress | None = None) -> DataSplit:
    """The training photos (downloaded if need be), split by class into training and validation."""
    train_root, test_root = resolve_data(config, download_progress)
    index = limit_per_class(index_image_folder(train_root), config.limit_per_class)
    train_ids, valid_ids = stratified_split(index.targets, config.valid_fraction, config.seed)
    if not valid_ids:
        raise DatasetError("the validation split is empty: each class needs at least two photos")
    classes = len(index.class_names)
    logger.info("%d classes: %d training and %d validation photos", classes, len(train_ids), len(valid_ids))
    return DataSplit(index.class_names, index.subset(train_ids), index.subset(valid_ids), test_root)


@dataclass
class FitInputs:
    """What `fit` trains (the whole model, or only its head) and on what."""

    net: nn.Module
    train_data: Dataset
    valid_data: Dataset
    # For a frozen backbone: the features of every training view and validation photo.
    train_features: torch.Tensor | None = None
    valid_features: torch.Tensor | None = None


def fit_inputs(
    config: TrainConfig,
    trainable: TrainableModel,
    split: DataSplit,
    fit_config: FitConfig,
    device: torch.device,
    reporter: TrainReporter,
) -> FitInputs:
    """Photos to train on; for a frozen backbone, their features instead (only the head learns, so
    the backbone runs once per photo and view, not once per epoch). Sets the head's learning-rate
    split in `fit_config` for fine-tuning."""
    model, prep = trainable.model, trainable.preprocessing
    plain_train = PhotoFolderDataset(split.train, prep, train=False)
    augmented_train = PhotoFolderDataset(split.train, prep, train=True)
    valid_data = PhotoFolderDataset(split.valid, prep, train=False)
    if config.mode != "frozen":
        if config.mode == "finetune":
            fit_config.head = last_linear_name(model)
            fit_config.backbone_lr_scale = config.backbone_lr_scale
        return FitInputs(model, augmented_train, valid_data)
    workers = fit_config.workers
    with HeadSwap(model) as head:
        torch.manual_seed(config.seed)
        views = [plain_train] + [augmented_train] * config.feature_views
        train_features = torch.cat(
            [extract_features(model, v, device, config.batch_size, workers, reporter) for v in views]
        )
        valid_features = extract_features(model, valid_data, device, config.batch_size, workers, reporter)
    fit_config.workers = 0  # features in memory: nothing to decode
    train_targets = torch.tensor(split.train.targets).repeat(len(views))
    return FitInputs(
        head,
        TensorDataset(train_features, train_targets),
        TensorDataset(valid_features, torch.tensor(split.valid.targets)),
        train_features,
        valid_features,
    )


@dataclass
class BestModelOutputs:
    """The best model's outputs that calibration and the landmark score are fitted on."""

    valid_logits: torch.Tensor
    valid_features: torch.Tensor
    train_features: torch.Tensor  # one row per training photo (its plain view)
    negative_features: torch.Tensor | None  # of --negatives, when given
    negative_paths: list[str] | None = None  # their photos, in the same order


def best_model_outputs(
    loaded: LoadedModel,
    negatives: ImageFolderIndex | None,
    split: DataSplit,
    inputs: FitInputs,
    device: torch.device,
    workers: int,
    reporter: TrainReporter,
) -> BestModelOutputs:
    """For a frozen backbone, from the features already computed (the head alone gives the logits);
    otherwise by running the best model over the photos again. The `negatives` (--negatives) always
    run through the best model."""
    if inputs.train_features is not None and inputs.valid_features is not None:
        head = loaded.model.get_submodule(last_linear_name(loaded.model))
        with torch.inference_mode():
            valid_logits = head(inputs.valid_features.to(device)).float().cpu()
        valid_features = inputs.valid_features
        train_features = inputs.train_features[: len(split.train)]  # the plain view of each photo
    else:

        def outputs_of(photos: ImageFolderIndex):
            return photo_outputs(loaded, photos, device, workers=workers, reporter=reporter)

        valid_outputs = outputs_of(split.valid)
        valid_logits, valid_features = valid_outputs.logits, valid_outputs.features
        train_features = outputs_of(split.train).features
    negative_features, negative_paths = None, None
    if negatives is not None:
        try:
            negative_features = photo_outputs(
                loaded, negatives, device, workers=workers, reporter=reporter
            ).features
        except DatasetError as exc:  # after the training: say how to keep it
            raise DatasetError(
                f"--negatives: {message_of(exc)}. The trained model is kept: give readable negatives "
                "and run the same command again with --resume"
            ) from None
        negative_paths = negatives.paths
    return BestModelOutputs(valid_logits, valid_features, train_features, negative_features, negative_paths)
