"""`train`: data -> split -> model -> loop -> checkpoint (-> test evaluation), as one function."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import landmark_tag
from landmark_tag.host.device import resolve_device
from landmark_tag.host.process import default_workers
from landmark_tag.model.calibration_photos import CalibrationPhotos
from landmark_tag.model.checkpoint import (
    LoadedModel,
    ModelSpec,
    default_model_path,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from landmark_tag.model.gazetteer import Place, class_places
from landmark_tag.model.openset import LandmarkScorer
from landmark_tag.runtime.int8_check import Int8Check
from landmark_tag.training.calibration import Calibration, calibrate
from landmark_tag.training.config import DEFAULT_EPOCHS_AND_LR, TrainConfig
from landmark_tag.training.data import (
    index_negatives,
)
from landmark_tag.training.download import ByteProgress
from landmark_tag.training.evaluate import (
    EvaluationResult,
    evaluate_checkpoint,
    summarise_for,
)
from landmark_tag.training.int8 import calibration_photos_for, carry_int8, int8_skip_reason
from landmark_tag.training.landmark_score import fit_landmark_scorer
from landmark_tag.training.loop import (
    FitConfig,
    FitState,
    SilentReporter,
    TrainReporter,
    fit,
    write_metrics_csv,
)
from landmark_tag.training.models import TrainableModel
from landmark_tag.training.steps import (
    BestModelOutputs,
    DataSplit,
    FitInputs,
    best_model_outputs,
    build_model,
    fit_inputs,
    read_resume_state,
    sidecar_paths,
    split_data,
)

logger = logging.getLogger(__name__)


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


def train(
    config: TrainConfig,
    reporter: TrainReporter | None = None,
    download_progress: ByteProgress | None = None,
) -> TrainResult:
    """Train a model as `config` says and write the best checkpoint (by validation loss) to `out`:
    data -> split -> model -> fit -> calibrate -> landmark score -> checkpoint -> test."""
    started = time.monotonic()
    reporter = reporter or SilentReporter()
    out = Path(config.out).expanduser() if config.out else default_model_path()
    last_path, metrics_path = sidecar_paths(out)
    device = resolve_device(config.device)
    workers = default_workers() if config.workers is None else config.workers

    split = split_data(config, download_progress)
    # Listed once, now: a bad folder fails before training, and a library is walked only once.
    negatives = index_negatives(config.negatives) if config.negatives else None
    places = class_places(split.class_names, config.gazetteer)
    state, inputs = _fit_best_model(config, split, places, out, device, workers, reporter)

    # Final numbers come from the best checkpoint as saved, read back the way the scan reads it.
    loaded = load_model(out, device)
    outputs = best_model_outputs(loaded, negatives, split, inputs, device, workers, reporter)
    calibration, scorer, valid_result = _calibrate_and_score(loaded, config, split, outputs)
    test_result = None
    if split.test_root is not None:
        # The trained weights' own accuracy; the runtime the scan will use is checked below (int8).
        test_result = evaluate_checkpoint(
            loaded,
            data=split.test_root,
            device=device,
            workers=workers,
            reporter=reporter,
            runtime="torch",
            precision="fp32",
        )
    photos = calibration_photos_for(
        split.train,
        split.valid,
        negatives,
        loaded.spec.preprocessing,
        config.seed,
    )
    _finish_checkpoint(out, loaded, calibration, scorer, valid_result, test_result, state, photos)
    last_path.unlink(missing_ok=True)  # the run finished: nothing left to resume
    int8_check, int8_skipped = None, int8_skip_reason(config.int8)
    if int8_skipped is None:
        int8_check = carry_int8(out)
    return TrainResult(
        checkpoint=out,
        metrics_file=metrics_path,
        best_epoch=state.best_epoch,
        epochs_run=state.epoch,
        valid=valid_result,
        test=test_result,
        calibration=calibration,
        landmark_scorer=scorer,
        places=len(places),
        unplaced=[name for name in split.class_names if name not in places],
        seconds=time.monotonic() - started,
        int8=int8_check,
        int8_skipped=int8_skipped,
    )


def _fit_best_model(
    config: TrainConfig,
    split: DataSplit,
    places: dict[str, Place],
    out: Path,
    device: torch.device,
    workers: int,
    reporter: TrainReporter,
) -> tuple[FitState, FitInputs]:
    """Build the model (or resume it) and fit it, writing the best checkpoint to `out` and, after
    every epoch, the `.last.pt` to resume from and the metrics CSV."""
    last_path, metrics_path = sidecar_paths(out)
    torch.manual_seed(config.seed)
    trainable = build_model(config, len(split.class_names))
    model = trainable.model
    resume_state = read_resume_state(config, model, last_path)

    def spec(metadata: dict[str, Any]) -> ModelSpec:
        return _spec(config, trainable, split.class_names, places, metadata)

    fit_config = _fit_config(config, workers)
    inputs = fit_inputs(config, trainable, split, fit_config, device, reporter)

    def on_best(_: nn.Module, state: FitState) -> None:
        best = state.history[-1]
        valid = {"loss": best.valid_loss, "top1": best.valid_top1}
        save_checkpoint(out, spec({"best_epoch": state.best_epoch, "valid": valid}), model.state_dict())

    def on_epoch_end(_: nn.Module, state: FitState, training_state: dict[str, Any]) -> None:
        save_checkpoint(last_path, spec({}), model.state_dict(), training_state)
        write_metrics_csv(metrics_path, state.history)

    state = fit(
        inputs.net,
        inputs.train_data,
        inputs.valid_data,
        fit_config,
        device,
        on_best=on_best,
        on_epoch_end=on_epoch_end,
        resume=resume_state,
        reporter=reporter,
    )
    return state, inputs


def _spec(
    config: TrainConfig,
    trainable: TrainableModel,
    class_names: list[str],
    places: dict[str, Place],
    metadata: dict[str, Any],
) -> ModelSpec:
    """The checkpoint's spec, with the run's arguments (for --resume and for the record)."""
    return ModelSpec(
        arch=trainable.arch,
        class_names=class_names,
        preprocessing=trainable.preprocessing,
        places=places,
        metadata={
            "train_args": asdict(config),
            "landmark_tag_version": landmark_tag.__version__,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **metadata,
        },
    )


def _fit_config(config: TrainConfig, workers: int) -> FitConfig:
    default_epochs, default_lr = DEFAULT_EPOCHS_AND_LR[config.mode]
    return FitConfig(
        epochs=config.epochs or default_epochs,
        batch_size=config.batch_size,
        lr=config.lr or default_lr,
        weight_decay=config.weight_decay,
        warmup_epochs=config.warmup_epochs,
        label_smoothing=config.label_smoothing,
        patience=config.patience,
        seed=config.seed,
        workers=workers,
    )


def _calibrate_and_score(
    loaded: LoadedModel, config: TrainConfig, split: DataSplit, outputs: BestModelOutputs
) -> tuple[Calibration, LandmarkScorer, EvaluationResult]:
    """Fit the best model's temperature and confidence threshold (set on `loaded`) and its landmark
    score, on the validation photos; and summarise its validation results."""
    valid_targets = torch.tensor(split.valid.targets)
    scorer = fit_landmark_scorer(
        outputs.train_features,
        torch.tensor(split.train.targets),
        outputs.valid_features,
        outputs.negative_features,
        recall=config.landmark_recall,
        false_tag_rate=config.false_tag_rate,
        seed=config.seed,
        negative_paths=outputs.negative_paths,
        # A frozen backbone's features of the validation photos are as unseen as a new photo's.
        valid_targets=valid_targets if config.mode == "frozen" else None,
    )
    calibration = calibrate(outputs.valid_logits, valid_targets, config.target_precision)
    loaded.spec.temperature = calibration.temperature
    loaded.spec.min_confidence = calibration.min_confidence
    return calibration, scorer, summarise_for(loaded, outputs.valid_logits, valid_targets)


def _finish_checkpoint(
    out: Path,
    loaded: LoadedModel,
    calibration: Calibration,
    scorer: LandmarkScorer,
    valid: EvaluationResult,
    test: EvaluationResult | None,
    state: FitState,
    photos: CalibrationPhotos,
) -> None:
    """Rewrite the best checkpoint with its calibration, final metrics and calibration photos."""
    payload, _ = read_checkpoint(out)
    spec = ModelSpec.from_dict(payload["spec"])
    spec.temperature, spec.min_confidence = calibration.temperature, calibration.min_confidence
    spec.landmark_scorer = scorer
    spec.metadata["calibration"] = asdict(calibration)
    spec.metadata["valid"] = _headline(valid)
    if test is not None:
        spec.metadata["test"] = _headline(test)
    spec.metadata["history"] = [asdict(m) for m in state.history]
    save_checkpoint(out, spec, payload["state_dict"], calibration_photos=photos)


def _headline(result: EvaluationResult) -> dict[str, float]:
    return {
        "photos": result.photos,
        "loss": result.loss,
        "top1": result.top1,
        "top3": result.top3,
        "top5": result.top5,
    }
