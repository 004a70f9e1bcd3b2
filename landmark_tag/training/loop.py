"""The training loop: AdamW, warmup + cosine schedule, label smoothing, early stopping on
validation loss, and resumable state. It trains any module on any (input, target) dataset, so the
same loop trains whole networks and, for a frozen backbone, just the head on cached features.
"""

from __future__ import annotations

import csv
import math
import time
import warnings
from collections.abc import Callable, Sized
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, cast

import torch
from timm.optim import param_groups_weight_decay
from torch import nn
from torch.utils.data import DataLoader, Dataset


@dataclass
class FitConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    # Parameters whose names don't start with `head` learn at lr * backbone_lr_scale (fine-tuning).
    head: str | None = None
    backbone_lr_scale: float = 1.0
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    patience: int = 6  # stop after this many epochs without a lower validation loss; 0 never stops
    seed: int = 0
    workers: int = 0


@dataclass
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float
    train_top1: float
    valid_loss: float
    valid_top1: float
    lr: float
    seconds: float


@dataclass
class FitState:
    """Everything `--resume` needs besides the weights."""

    epoch: int = 0  # epochs completed
    best_valid_loss: float = math.inf
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[EpochMetrics] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["history"] = [asdict(m) for m in self.history]
        return data

    def record(self, metrics: EpochMetrics) -> bool:
        """Count a finished epoch; return whether its validation loss is the best so far."""
        self.epoch = metrics.epoch
        self.history.append(metrics)
        if metrics.valid_loss < self.best_valid_loss:
            self.best_valid_loss, self.best_epoch = metrics.valid_loss, metrics.epoch
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitState:
        data = dict(data)
        data["history"] = [EpochMetrics(**m) for m in data.get("history", [])]
        return cls(**data)


class TrainReporter(Protocol):
    def task_started(self, description: str, total: int) -> None: ...

    def advance(self) -> None: ...

    def epoch_finished(self, metrics: EpochMetrics, improved: bool) -> None: ...


class SilentReporter:
    def task_started(self, description: str, total: int) -> None:
        pass

    def advance(self) -> None:
        pass

    def epoch_finished(self, metrics: EpochMetrics, improved: bool) -> None:
        pass


def param_groups(model: nn.Module, config: FitConfig) -> list[dict[str, Any]]:
    """AdamW groups: timm's weight-decay groups (none on biases and norms), each split in two so that
    the backbone learns at lr * backbone_lr_scale. Backbone groups come first, the head's last, as
    checkpoints that `resume` reads have them (and the head's lr is the one reported)."""
    decay_groups = param_groups_weight_decay(model, config.weight_decay)
    if config.head is None:
        return [{**group, "lr": config.lr} for group in decay_groups]
    head = {id(parameter) for parameter in model.get_submodule(config.head).parameters()}
    groups = []
    for in_head, scale in ((False, config.backbone_lr_scale), (True, 1.0)):
        for group in decay_groups:
            params = [parameter for parameter in group["params"] if (id(parameter) in head) == in_head]
            if params:
                groups.append({**group, "params": params, "lr": config.lr * scale})
    return groups


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warmup to each group's lr over `warmup_steps` (from 1/warmup_steps of it), then cosine
    decay to zero at `total_steps`; stepped once per batch."""
    warmup_steps = max(1, warmup_steps)
    warmup = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / warmup_steps, end_factor=1.0, total_iters=max(1, warmup_steps - 1)
    )
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps))
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, decay], milestones=[warmup_steps])


def restore_schedule(scheduler: torch.optim.lr_scheduler.LRScheduler, state: dict[str, Any]) -> None:
    """Load a saved schedule; call it before loading the optimizer's state. A state saved by a
    version of landmark-tag that wrote the same schedule as one LambdaLR is replayed step by step
    (the optimizer's state, loaded next, then sets the learning rates it had reached)."""
    if "_schedulers" in state or "last_epoch" not in state:
        scheduler.load_state_dict(state)
        return
    with warnings.catch_warnings():  # replaying, no optimizer steps are due: torch's warning is moot
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
        for _ in range(state["last_epoch"]):
            scheduler.step()


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def run_epoch(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    on_batch: Callable[[], None] | None = None,
) -> tuple[float, float]:
    """One pass over `loader`; trains when an optimizer is given. Returns (mean loss, top-1 accuracy)."""
    training = optimizer is not None
    model.train(training)
    total_loss, correct, seen = 0.0, 0, 0
    with torch.set_grad_enabled(training):
        for inputs, targets in loader:
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            if inputs.ndim == 4 and device.type == "cuda":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with _autocast(device):
                logits = model(inputs)
            loss = criterion(logits.float(), targets)
            if optimizer is not None:  # training
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            total_loss += loss.item() * len(targets)
            correct += (logits.argmax(1) == targets).sum().item()
            seen += len(targets)
            if on_batch:
                on_batch()
    return total_loss / max(seen, 1), correct / max(seen, 1)


def fit(
    model: nn.Module,
    train_data: Dataset,
    valid_data: Dataset,
    config: FitConfig,
    device: torch.device,
    *,
    on_best: Callable[[nn.Module, FitState], None],
    on_epoch_end: Callable[[nn.Module, FitState, dict[str, Any]], None],
    resume: dict[str, Any] | None = None,
    reporter: TrainReporter | None = None,
) -> FitState:
    """Train `model`, calling `on_best` whenever validation loss improves and `on_epoch_end` with the
    optimizer/scheduler state after every epoch. `resume` is such a state, from an interrupted run;
    the model must already hold that run's last weights.
    """
    reporter = reporter or SilentReporter()
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    valid_loader = DataLoader(valid_data, batch_size=config.batch_size * 2, num_workers=config.workers)
    steps_per_epoch = math.ceil(len(cast(Sized, train_data)) / config.batch_size)
    optimizer = torch.optim.AdamW(param_groups(model, config), lr=config.lr)
    scheduler = warmup_cosine(
        optimizer, max(1, round(config.warmup_epochs * steps_per_epoch)), config.epochs * steps_per_epoch
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    # Early stopping and "best" use the plain validation loss: smoothing is a training-time device.
    valid_criterion = nn.CrossEntropyLoss()
    state = FitState()
    if resume is not None:
        restore_schedule(scheduler, resume["scheduler"])
        optimizer.load_state_dict(resume["optimizer"])
        state = FitState.from_dict(resume["fit_state"])
    while state.epoch < config.epochs:
        if config.patience and state.epochs_without_improvement >= config.patience:
            break
        epoch = state.epoch + 1
        started = time.monotonic()
        train_loader = epoch_loader(train_data, config, device, epoch)
        reporter.task_started(f"epoch {epoch}/{config.epochs}", len(train_loader))
        lr = optimizer.param_groups[-1]["lr"]
        train_loss, train_top1 = run_epoch(
            model, train_loader, criterion, device, optimizer, scheduler, reporter.advance
        )
        valid_loss, valid_top1 = run_epoch(model, valid_loader, valid_criterion, device)
        metrics = EpochMetrics(
            epoch, train_loss, train_top1, valid_loss, valid_top1, lr, time.monotonic() - started
        )
        improved = state.record(metrics)
        if improved:
            on_best(model, state)
        on_epoch_end(
            model,
            state,
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "fit_state": state.to_dict(),
            },
        )
        reporter.epoch_finished(metrics, improved)
    return state


def epoch_loader(train_data: Dataset, config: FitConfig, device: torch.device, epoch: int) -> DataLoader:
    """The epoch's shuffled training batches. Shuffling and augmentation depend only on (seed,
    epoch), so a resumed run repeats them."""
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    torch.manual_seed(config.seed * 100_003 + epoch)
    return DataLoader(
        train_data,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=len(cast(Sized, train_data)) > config.batch_size,  # a batch of one breaks BatchNorm
        generator=generator,
        num_workers=config.workers,
        pin_memory=device.type == "cuda",
    )


def write_metrics_csv(path: Path, history: list[EpochMetrics]) -> None:
    """One row per epoch, for watching a run from outside (and plotting it later)."""
    names = [f.name for f in fields(EpochMetrics)]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(asdict(m) for m in history)
