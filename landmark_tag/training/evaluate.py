"""Evaluation: loss, top-1/3/5 accuracy, per-class accuracy, a confusion matrix, calibration error
before and after the model's temperature, and a risk-coverage table, on any ImageFolder whose
classes are the model's or a subset of them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from landmark_tag.errors import ConfigError
from landmark_tag.host.device import resolve_device
from landmark_tag.host.process import default_workers
from landmark_tag.model.checkpoint import LoadedModel, display_name, load_model
from landmark_tag.runtime.runners import ModelRunner, TorchRunner, open_runner
from landmark_tag.training.calibration import (
    CoveragePoint,
    expected_calibration_error,
    risk_coverage,
    top1_confidence,
)
from landmark_tag.training.data import (
    ImageFolderIndex,
    PhotoFolderDataset,
    index_image_folder,
    index_negatives,
    limit_per_class,
    stratified_split,
)
from landmark_tag.training.landmark_score import OpenSetEvaluation, evaluate_open_set
from landmark_tag.training.loop import TrainReporter


@dataclass
class EvaluationResult:
    photos: int
    loss: float
    top1: float
    top3: float
    top5: float
    class_names: list[str]  # the model's classes
    per_class_accuracy: dict[str, float]  # only classes present in the data
    per_class_count: dict[str, int]
    confusion: list[list[int]]  # [true class][predicted class], over the model's classes
    temperature: float = 1.0  # the model's, applied to the calibrated numbers below
    min_confidence: float = 0.0  # the model's default threshold
    ece_uncalibrated: float = float("nan")  # expected calibration error at temperature 1
    ece_calibrated: float = float("nan")  # at the model's temperature
    risk_coverage: list[CoveragePoint] = field(default_factory=list)  # calibrated probabilities
    # Landmark photos against photos of no landmark (`--negatives`); see `open_set_evaluation`.
    open_set: OpenSetEvaluation | None = None
    runs_on: str = ""  # device, runtime and precision, e.g. "cpu (openvino int8)"

    def to_json(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


# Thresholds in the risk-coverage table, besides the model's own.
REPORTED_THRESHOLDS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def summarise(
    logits: torch.Tensor,
    targets: torch.Tensor,
    class_names: list[str],
    temperature: float = 1.0,
    min_confidence: float = 0.0,
) -> EvaluationResult:
    """Metrics from the logits of every photo and their true class indices."""
    n, num_classes = logits.shape
    loss = nn.functional.cross_entropy(logits.float(), targets).item() if n else float("nan")
    ranked = logits.argsort(dim=1, descending=True)

    def top(k: int) -> float:
        k = min(k, num_classes)
        return (ranked[:, :k] == targets[:, None]).any(dim=1).float().mean().item() if n else float("nan")

    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (targets.numpy(), ranked[:, 0].numpy()), 1)
    per_class_accuracy, per_class_count = {}, {}
    for index, name in enumerate(class_names):
        count = int(confusion[index].sum())
        if count:
            per_class_count[name] = count
            per_class_accuracy[name] = float(confusion[index, index] / count)
    calibrated = torch.softmax(logits.float() / temperature, dim=1)
    confidence, correct = top1_confidence(calibrated, targets)
    return EvaluationResult(
        temperature=temperature,
        min_confidence=min_confidence,
        ece_uncalibrated=expected_calibration_error(torch.softmax(logits.float(), dim=1), targets),
        ece_calibrated=expected_calibration_error(calibrated, targets),
        risk_coverage=risk_coverage(confidence, correct, [*REPORTED_THRESHOLDS, min_confidence]),
        photos=n,
        loss=loss,
        top1=top(1),
        top3=top(3),
        top5=top(5),
        class_names=list(class_names),
        per_class_accuracy=per_class_accuracy,
        per_class_count=per_class_count,
        confusion=confusion.tolist(),
    )


@dataclass
class PhotoOutputs:
    """What the model says about a set of photos, in their order."""

    logits: torch.Tensor  # (n, classes)
    targets: torch.Tensor  # (n,) true class indices; -1 for photos of no class (negatives)
    features: torch.Tensor  # (n, d) penultimate features, the landmark score's input


@torch.inference_mode()
def collect_outputs(
    model: nn.Module | ModelRunner,
    loader: DataLoader,
    device: torch.device,
    reporter: TrainReporter | None = None,
) -> PhotoOutputs:
    """Logits, targets and features over `loader`, from a model (in fp32 on `device`) or a runner."""
    runner = TorchRunner(model, device, None) if isinstance(model, nn.Module) else model
    all_logits, all_targets, all_features = [], [], []
    if reporter is not None:
        reporter.task_started("running the model", len(loader))
    for inputs, targets in loader:
        logits, features = runner(inputs)
        assert features is not None
        all_logits.append(logits.float().cpu())
        all_features.append(features.float().cpu())
        all_targets.append(targets)
        if reporter is not None:
            reporter.advance()
    if not all_logits:
        return PhotoOutputs(torch.empty(0, 0), torch.empty(0, dtype=torch.long), torch.empty(0, 0))
    return PhotoOutputs(torch.cat(all_logits), torch.cat(all_targets), torch.cat(all_features))


def photo_outputs(
    loaded: LoadedModel,
    index: ImageFolderIndex,
    device: torch.device,
    batch_size: int = 64,
    workers: int | None = None,
    reporter: TrainReporter | None = None,
    runner: ModelRunner | None = None,
) -> PhotoOutputs:
    """Logits, true classes and features of indexed photos, preprocessed the way the scan does it;
    from `runner`, else from the model in fp32 on `device`."""
    dataset = PhotoFolderDataset(index, loaded.spec.preprocessing, train=False)
    workers = default_workers() if workers is None else workers
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    outputs = collect_outputs(runner or loaded.model, loader, device, reporter)
    if outputs.logits.numel() == 0:
        outputs.logits = torch.empty(0, loaded.spec.num_classes)
    return outputs


def summarise_for(loaded: LoadedModel, logits: torch.Tensor, targets: torch.Tensor) -> EvaluationResult:
    """`summarise` with the model's classes, temperature and threshold."""
    spec = loaded.spec
    return summarise(logits, targets, spec.class_names, spec.temperature, spec.min_confidence)


def save_confusion_png(result: EvaluationResult, path: str | os.PathLike) -> None:
    """A confusion-matrix heat map over the classes that occur (as truth or prediction)."""
    # The object API, not pyplot: no global backend or figure state, safe in any process.
    from matplotlib.figure import Figure

    confusion = np.asarray(result.confusion)
    shown = np.flatnonzero(confusion.sum(axis=0) + confusion.sum(axis=1))
    matrix = confusion[np.ix_(shown, shown)]
    row_totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, row_totals, out=np.zeros_like(matrix, dtype=float), where=row_totals > 0)
    labels = [display_name(result.class_names[i]) for i in shown]
    size = max(5.0, 0.32 * len(labels) + 2.5)
    figure = Figure(figsize=(size + 1.5, size))
    axes = figure.subplots()
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"top-1 {result.top1:.1%} on {result.photos} photos")
    if len(labels) <= 20:
        for (row, col), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if normalised[row, col] > 0.5 else "black"
                axes.text(col, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, ax=axes, fraction=0.046, label="fraction of true class")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def training_split(index: ImageFolderIndex, train_args: dict, split: str) -> ImageFolderIndex:
    """The `train` or `valid` part of `index`, split exactly as the training run split it."""
    if split not in ("train", "valid"):
        raise ConfigError(f"unknown split {split!r} (--split): use all, train or valid")
    if "valid_fraction" not in train_args:
        raise ConfigError(
            "this checkpoint does not record how its data was split, so --split cannot rebuild it"
        )
    index = limit_per_class(index, train_args.get("limit_per_class"))
    train_ids, valid_ids = stratified_split(index.targets, train_args["valid_fraction"], train_args["seed"])
    return index.subset(valid_ids if split == "valid" else train_ids)


def evaluate_checkpoint(
    model: LoadedModel | str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    index: ImageFolderIndex | None = None,
    split: str = "all",
    device: torch.device | str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    negatives: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    reporter: TrainReporter | None = None,
    runtime: str = "auto",
    precision: str = "auto",
) -> EvaluationResult:
    """Evaluate a checkpoint on an ImageFolder (`data`) or an already indexed set of photos.

    The folder's classes may be any subset of the model's; photos use the scan's eval transform.
    `split="valid"` (or `"train"`) evaluates only that part of the split the model was trained with,
    rebuilt from the seed, fraction and limit stored in the checkpoint; `data` must be its training folder.
    `negatives` is a folder (or folders) of photos that show none of the model's landmarks: with
    it, the result also says how the landmark photos and these fare at the model's thresholds and others.
    `runtime` and `precision` run the model as the scan would (`runtime.runners`): `auto` on a CPU
    is OpenVINO; precision `auto` there means int8 where it passed its check.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    loaded = model if isinstance(model, LoadedModel) else load_model(model, device)
    if index is None:
        if data is None:
            raise ConfigError("give either data or index")
        index = index_image_folder(data, loaded.spec.class_names)
        if split != "all":
            index = training_split(index, loaded.spec.metadata.get("train_args", {}), split)
    negative_index = index_negatives(negatives) if negatives is not None else None  # fail early
    runner = open_runner(loaded, device, runtime, precision)
    outputs = photo_outputs(loaded, index, device, batch_size, workers, reporter, runner)
    result = summarise_for(loaded, outputs.logits, outputs.targets)
    result.runs_on = f"{device} ({runner.runtime} {runner.precision})"
    if negative_index is not None:
        negative_outputs = photo_outputs(
            loaded, negative_index, device, batch_size, workers, reporter, runner
        )
        scorer = loaded.spec.landmark_scorer
        rows = scorer.fit.get("validation_rows") if scorer is not None else None
        if scorer is not None and rows and split == "valid":
            # The bank holds these photos (a frozen backbone's): judged without them, as new photos.
            scorer = scorer.without_rows(*rows)
        result.open_set = evaluate_open_set(loaded.spec, outputs, negative_outputs, scorer)
    runner.close()
    return result
