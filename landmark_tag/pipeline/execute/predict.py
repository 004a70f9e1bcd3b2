"""Run the model on a batch and keep the top-k landmarks with their probabilities, judged.

Every process that runs the model (the scan's, each Ray actor, `predict`) builds its `Predictor`
from the same `InferenceSettings` (pipeline/inference.py)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from landmark_tag.files.images import DecodeError
from landmark_tag.files.results import Status
from landmark_tag.host.device import resolve_device
from landmark_tag.model.checkpoint import LoadedModel, default_model_path, load_model
from landmark_tag.model.gazetteer import Place
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from landmark_tag.pipeline.inference import InferenceSettings, resolve_inference, warn_without_landmark_score
from landmark_tag.runtime.runners import open_runner

logger = logging.getLogger(__name__)


@dataclass
class TopK:
    """Per photo, the k best class indices and their probabilities, best first."""

    indices: np.ndarray  # (n, k) int
    probabilities: np.ndarray  # (n, k) float
    landmark_scores: np.ndarray | None = None  # (n,) float; None when the model has no scorer


class Predictor:
    """Wraps a loaded model for batched inference on one device, with calibrated probabilities.

    The model runs in the runtime the settings' `runtime` and `precision` choose on this process's
    hardware (see `runtime.runners`); on the CPU that is OpenVINO by default, built from the
    checkpoint on first use."""

    def __init__(
        self, loaded: LoadedModel, device: torch.device, settings: InferenceSettings, spare_core: bool = False
    ) -> None:
        self.loaded = loaded
        self.device = device
        self.k = settings.k
        self.labels = settings.labels
        self.judge_settings = settings.judge
        self.runner = open_runner(loaded, device, settings.runtime, settings.precision, spare_core)
        scorer = loaded.spec.landmark_scorer
        self.scorer = scorer.on(device, self.input_dtype) if scorer is not None else None

    @property
    def precision(self) -> str:
        return self.runner.precision

    @property
    def runs_on(self) -> str:
        """Where and how the model runs, as the summary says it: e.g. "cpu (openvino int8)"."""
        return f"{self.device} ({self.runner.runtime} {self.runner.precision})"

    @property
    def input_dtype(self) -> torch.dtype:
        """The dtype to hand photos over in (see the runner's)."""
        return self.runner.input_dtype

    def __call__(self, pixels: torch.Tensor) -> TopK:
        return self.top_k(*self.runner(pixels))

    def submit(self, pixels: torch.Tensor) -> Callable[[], TopK]:
        """Start the model on a batch; the function returned waits for it and gives its top-k. The
        runtime may compute meanwhile (see `ModelRunner.submit`, and `rows.predicted_rows`)."""
        outputs = self.runner.submit(pixels)
        return lambda: self.top_k(*outputs.result())

    @torch.inference_mode()
    def top_k(self, logits: torch.Tensor, features: torch.Tensor | None) -> TopK:
        """The model's outputs for a batch as calibrated top-k probabilities and landmark scores."""
        probabilities = torch.softmax(logits.float() / self.loaded.spec.temperature, dim=1)
        top = probabilities.topk(self.k, dim=1)
        scores = None
        if self.scorer is not None and features is not None:
            scores = self.scorer.score(features.to(self.device)).cpu().numpy()
        return TopK(top.indices.cpu().numpy(), top.values.cpu().numpy(), scores)

    def judge(
        self, top1_index: int, top1_probability: float, landmark_score: float | None = None
    ) -> tuple[Status, Place | None]:
        """Tag the top-1 landmark (with its place, if it has one), or say why not: `no_landmark`
        or `uncertain` (see `judge`)."""
        status = self.judge_settings.status(top1_probability, landmark_score)
        place = self.judge_settings.places.get(self.labels[top1_index]) if status is Status.TAGGED else None
        return status, place


@dataclass
class LandmarkGuess:
    landmark: str  # display name, e.g. "Eiffel Tower"
    class_name: str  # as in the training data, e.g. "16.Eiffel_Tower"
    probability: float


@dataclass
class ImagePrediction:
    path: str
    guesses: list[LandmarkGuess]  # best first; empty when the image failed
    status: str = Status.TAGGED.value  # tagged, uncertain, no_landmark or failed
    place: Place | None = None  # where the accepted top-1 landmark is, when known
    error: str | None = None
    landmark_score: float | None = None  # how much it looks like any known landmark


def predict_landmarks(
    images: str | os.PathLike | Sequence[str | os.PathLike],
    k: int = 3,
    model: str | os.PathLike | LoadedModel | None = None,
    device: str = "auto",
    min_confidence: float | None = None,
    precision: str = "auto",
    min_landmark_score: float | None = None,
    runtime: str = "auto",
) -> list[ImagePrediction]:
    """The top-k landmarks for each image, in order. A broken image gets an error, not an exception.

    `model` is a checkpoint path or an already loaded model; default: the model `train` writes.
    `min_confidence` and `min_landmark_score` default to the thresholds stored in the checkpoint.
    `runtime` and `precision`: see `runtime.runners` (on the CPU, OpenVINO and int8 where they can).
    """
    paths = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    torch_device = resolve_device(device)
    loaded = model if isinstance(model, LoadedModel) else load_model(model or default_model_path())
    settings = resolve_inference(
        loaded, k, min_confidence, min_landmark_score, runtime, precision, torch_device
    )
    predictor = Predictor(loaded, torch_device, settings)
    warn_without_landmark_score(loaded)
    decoder = PhotoDecoder(loaded.spec.preprocessing)
    results = []
    for path in paths:
        try:
            pixels = decoder(os.fspath(path))
        except DecodeError as exc:
            results.append(ImagePrediction(os.fspath(path), [], Status.FAILED.value, error=str(exc)))
            continue
        top = predictor(pixels.unsqueeze(0))
        guesses = [
            LandmarkGuess(predictor.labels[i], loaded.spec.class_names[i], float(p))
            for i, p in zip(top.indices[0], top.probabilities[0], strict=True)
        ]
        score = float(top.landmark_scores[0]) if top.landmark_scores is not None else None
        status, place = predictor.judge(int(top.indices[0, 0]), float(top.probabilities[0, 0]), score)
        results.append(ImagePrediction(os.fspath(path), guesses, status.value, place, landmark_score=score))
    predictor.runner.close()
    return results
