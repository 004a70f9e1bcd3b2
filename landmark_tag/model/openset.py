"""The landmark score: how much a photo looks like *any* landmark the model was trained on.

A classifier always names one of its classes, and its probabilities say little about "none of
these": at a threshold that keeps 95% of a model's validation photos, the top-1 probability lets
many photos of no landmark through (`benchmarks/studies/landmark_score_methods.py`). The score used instead
is the deep nearest-neighbour score of Sun et al. (2022): the cosine similarity between the
photo's penultimate features (the input of the final Linear layer) and those of its k-th nearest
training photo. It needs no negative photos, works for every architecture a checkpoint can name,
and separates them far better: `benchmarks/studies/landmark_score_methods.py` compares it with the top-1
probability, energy, max-logit, class prototypes and Mahalanobis distance.

The training photos' features are stored in the checkpoint in fp16, L2-normalised. A large
training set is reduced to per-class k-means prototypes so that the bank stays under
`MAX_BANK_BYTES`; scoring a photo is then one matrix product with the bank.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from landmark_tag.errors import ConfigError
from landmark_tag.model.architectures import last_linear_name
from landmark_tag.model.targets import DEFAULT_FALSE_TAG_RATE, DEFAULT_LANDMARK_RECALL

# About 12.8 MB for 5,000 photos of 1280 features; larger sets become prototypes.
MAX_BANK_BYTES = 20_000_000
DEFAULT_NEIGHBOUR = 1  # k: the nearest training photo (k = 5 and 10 measured the same: docs/quality.md)
# The share of the labelled photos, each scored with its own landmark left out, that the default
# threshold lets through (stand-ins for famous places the model does not know; docs/quality.md).
DEFAULT_UNKNOWN_RATE = 0.10
# A negative that scores at least as high as this share of the labelled landmark photos is taken
# for a photo of a known landmark (a user's own library holds some) and left out of the false-tag
# rate: 12 landmark photos among 240 negatives then cost 2 points of recall instead of 65
# (docs/quality.md). So negatives never cost more than the rest (a quarter) of the recall.
LANDMARK_LIKE_SHARE = 0.75


@dataclass
class LandmarkScorer:
    """The checkpoint's open-set part: the feature bank, k, and the default threshold."""

    bank: torch.Tensor  # (n, d) L2-normalised training features, fp16 when stored
    neighbour: int = DEFAULT_NEIGHBOUR  # score = similarity to the k-th nearest bank row
    threshold: float = 0.0  # default min landmark score: below it a photo is `no_landmark`
    method: str = "knn-cosine"
    # How the threshold was chosen (recall on validation photos, false tags on negatives).
    fit: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.bank.ndim != 2 or len(self.bank) == 0:
            raise ValueError("the landmark score's feature bank must be a non-empty (n, d) tensor")
        if self.method != "knn-cosine":
            raise ValueError(f"unknown landmark score method {self.method!r}")
        self.neighbour = max(1, min(int(self.neighbour), len(self.bank)))

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """(b,) landmark scores in [-1, 1] for (b, d) penultimate features."""
        return self.on(features.device).score(features)

    def on(self, device: torch.device | str, search_dtype: torch.dtype = torch.float32) -> DeviceScorer:
        return DeviceScorer(self, torch.device(device), search_dtype)

    def leave_one_out(self) -> torch.Tensor:
        """(n,) each bank row's score against the rest of the bank: for photos in the bank, the
        score a new photo like them would get."""
        if len(self.bank) <= self.neighbour:
            raise ValueError("leave-one-out scores need more bank rows than the neighbour's rank")
        rows = nn.functional.normalize(self.bank.float(), dim=1)
        scores = []
        for start in range(0, len(rows), 1024):  # bounded memory for large banks
            chunk = rows[start : start + 1024]
            similarity = chunk @ rows.T
            similarity[torch.arange(len(chunk)), torch.arange(start, start + len(chunk))] = -math.inf
            nearest = similarity.topk(self.neighbour, dim=1).indices[:, -1]
            scores.append((chunk * rows[nearest]).sum(dim=1).clamp_(-1.0, 1.0))
        return torch.cat(scores)

    def without_rows(self, start: int, stop: int) -> LandmarkScorer:
        """The same scorer without bank rows `start:stop` (photos to evaluate on that it holds)."""
        bank = torch.cat([self.bank[:start], self.bank[stop:]])
        return LandmarkScorer(bank, self.neighbour, self.threshold, self.method, dict(self.fit))


class DeviceScorer:
    """A `LandmarkScorer` ready to score batches on one device.

    Every batch reads the whole bank to find each photo's k-th nearest training photo, so the
    search may use a bf16 copy where the model runs in bf16, which halves those bytes; the score
    itself is then computed in fp32 from the stored row of the neighbour found, so it does not
    carry bf16's rounding (about 0.004 near 0.6).
    """

    def __init__(self, scorer: LandmarkScorer, device: torch.device, search_dtype: torch.dtype) -> None:
        self.neighbour = scorer.neighbour
        self.bank = scorer.bank.to(device)
        search = scorer.bank.to(device, search_dtype)
        # On a CPU, a small batch times the bank is fastest with an fp32 bank laid out column-major
        # (`search.T` contiguous: about twice as fast for 8 photos against 5,000 rows), a bf16 one row-major.
        self.search = search.T.contiguous().T if search_dtype == torch.float32 else search

    def score(self, features: torch.Tensor) -> torch.Tensor:
        # Normalised in fp32 before any cast: large activations would overflow fp16.
        features = nn.functional.normalize(features.float(), dim=1)
        similarity = features.to(self.search.dtype) @ self.search.T
        nearest = similarity.topk(self.neighbour, dim=1).indices[:, -1]
        # The fp16 bank's rows are unit vectors only to fp16's precision, so a photo that is in the
        # bank can score just over 1 (by about 1e-5); a cosine similarity stays in [-1, 1].
        return (features * self.bank[nearest].float()).sum(dim=1).clamp_(-1.0, 1.0)


def _spherical_kmeans(points: torch.Tensor, clusters: int, seed: int, iterations: int = 15) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    centres = points[torch.randperm(len(points), generator=generator)[:clusters]].clone()
    for _ in range(iterations):
        assignment = (points @ centres.T).argmax(dim=1)
        for c in range(clusters):
            members = points[assignment == c]
            if len(members):
                centres[c] = members.mean(dim=0)
        centres = nn.functional.normalize(centres, dim=1)
    return centres


def build_bank(
    features: torch.Tensor, targets: torch.Tensor, max_bytes: int = MAX_BANK_BYTES, seed: int = 0
) -> torch.Tensor:
    """The fp16 bank for (n, d) training features: all of them, L2-normalised, or, if that exceeds
    `max_bytes`, per-class k-means prototypes in proportion to each class's size."""
    points = nn.functional.normalize(features.float(), dim=1)
    max_rows = max(1, max_bytes // (2 * points.shape[1]))
    if len(points) <= max_rows:
        return points.half()
    share = max_rows / len(points)
    prototypes = []
    for c in targets.unique().tolist():
        members = points[targets == c]
        clusters = max(1, math.floor(len(members) * share))
        prototypes.append(members if clusters >= len(members) else _spherical_kmeans(members, clusters, seed))
    return torch.cat(prototypes)[:max_rows].half()


def leave_class_out(
    features: torch.Tensor, targets: torch.Tensor, neighbour: int = DEFAULT_NEIGHBOUR
) -> torch.Tensor:
    """(n,) each labelled photo's score against the photos of every *other* class: how a photo of a
    famous place the model does not know scores, with the landmarks it does know standing in for
    such places (each one left out in turn). NaN where only one class exists."""
    rows = nn.functional.normalize(features.float(), dim=1)
    scores = torch.full((len(rows),), float("nan"))
    for start in range(0, len(rows), 1024):  # bounded memory for large sets
        chunk = rows[start : start + 1024]
        similarity = chunk @ rows.T
        same = targets[start : start + 1024, None] == targets[None, :]
        similarity[same] = -math.inf
        others = (~same).sum(dim=1)
        rank = torch.clamp(others, max=neighbour).clamp(min=1)
        kth = similarity.topk(min(neighbour, len(rows)), dim=1).values
        picked = kth.gather(1, (rank - 1)[:, None]).squeeze(1)
        scores[start : start + len(chunk)] = torch.where(others > 0, picked.clamp(-1.0, 1.0), math.nan)
    return scores


def recall_threshold(landmark_scores: torch.Tensor, recall: float) -> float:
    """The highest threshold that still keeps at least `recall` of these landmark photos."""
    if not 0.0 < recall <= 1.0:
        raise ConfigError("the landmark recall (--landmark-recall) must be in (0, 1]")
    ranked = landmark_scores.float().sort(descending=True).values
    keep = min(len(ranked), max(1, math.ceil(recall * len(ranked) - 1e-9)))
    return float(ranked[keep - 1])


def false_tag_threshold(negative_scores: torch.Tensor, rate: float) -> float:
    """The lowest threshold at which at most `rate` of these negative photos would pass."""
    if not 0.0 <= rate < 1.0:
        raise ConfigError("the false-tag rate (--false-tag-rate) must be in [0, 1)")
    ranked = negative_scores.float().sort(descending=True).values
    allowed = math.floor(rate * len(ranked) + 1e-9)  # this many may pass
    if allowed >= len(ranked):
        return float("-inf")
    # Just above the first negative that must be rejected.
    return float(torch.nextafter(ranked[allowed], torch.tensor(float("inf"))))


def choose_threshold(
    landmark_scores: torch.Tensor,
    negative_scores: torch.Tensor | None = None,
    recall: float = DEFAULT_LANDMARK_RECALL,
    false_tag_rate: float = DEFAULT_FALSE_TAG_RATE,
    landmark_like_share: float | None = LANDMARK_LIKE_SHARE,
    unknown_scores: torch.Tensor | None = None,
    unknown_rate: float = DEFAULT_UNKNOWN_RATE,
) -> tuple[float, dict]:
    """The default min landmark score, and how it was chosen.

    It keeps `recall` of the validation landmark photos. With `unknown_scores` (the labelled photos
    scored with their own class left out: `leave_class_out`) it is raised, if needed, until at most
    `unknown_rate` of them pass: stand-ins for famous places the model does not know, which most
    users have no negatives for. With negative photos it is raised, if needed, until at most
    `false_tag_rate` of them pass. It is never lowered below the recall threshold: negatives show
    one kind of photo, and a looser threshold would admit the kinds they do not show. Precision
    comes first, so when the rules conflict, recall gives way. Negatives that score like most
    landmark photos (`landmark_like_negatives`; None: none) are left out: they are taken for photos
    of the landmarks, and their indices are in `fit["landmark_like"]`.
    """
    threshold = recall_threshold(landmark_scores, recall)
    fit: dict = {"landmark_recall_target": recall, "validation_photos": len(landmark_scores)}
    if unknown_scores is not None:
        known = unknown_scores[~torch.isnan(unknown_scores)]
        if len(known):
            threshold = max(threshold, false_tag_threshold(known, unknown_rate))
            fit["unknown_rate_target"] = unknown_rate
            fit["unknown_rate"] = float((known >= threshold).double().mean())
    if negative_scores is not None and len(negative_scores):
        landmark_like = (
            landmark_like_negatives(landmark_scores, negative_scores, landmark_like_share)
            if landmark_like_share is not None
            else torch.zeros(len(negative_scores), dtype=torch.bool)
        )
        kept = negative_scores[~landmark_like]
        if len(kept):
            threshold = max(threshold, false_tag_threshold(kept, false_tag_rate))
        fit["false_tag_rate_target"] = false_tag_rate
        fit["negative_photos"] = len(kept)
        fit["false_tag_rate"] = float((kept >= threshold).double().mean()) if len(kept) else 0.0
        fit["landmark_like"] = torch.nonzero(landmark_like).flatten().tolist()
    # A score is a cosine similarity: a threshold beyond 1 (just above a negative that scored 1)
    # would be refused by every scan. At 1 only exact copies of bank photos pass.
    threshold = min(threshold, 1.0)
    fit["landmark_recall"] = float((landmark_scores >= threshold).double().mean())
    return threshold, fit


def landmark_like_negatives(
    landmark_scores: torch.Tensor, negative_scores: torch.Tensor, share: float = LANDMARK_LIKE_SHARE
) -> torch.Tensor:
    """(n,) bool: the negatives scoring at least as high as `share` of the landmark photos, which
    are more likely photos of a known landmark among the negatives than negatives."""
    ranked = landmark_scores.float().sort(descending=True).values
    keep = min(len(ranked), max(1, math.ceil(share * len(ranked) - 1e-9)))
    return negative_scores.float() >= ranked[keep - 1]


def auroc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).double().sum()
    ties = (positive[:, None] == negative[None, :]).double().sum()
    return float((greater + 0.5 * ties) / (len(positive) * len(negative)))


@contextlib.contextmanager
def capture_features(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """While active, each forward pass of `model` appends its penultimate features (the input of
    its final Linear layer) to the yielded list."""
    captured: list[torch.Tensor] = []
    head = model.get_submodule(last_linear_name(model))
    handle = head.register_forward_hook(lambda _module, inputs, _output: captured.append(inputs[0]))
    try:
        yield captured
    finally:
        handle.remove()
