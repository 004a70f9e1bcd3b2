"""Training recipes for the open set, side by side: which one makes famous landmarks the model does
not know `no_landmark`, while it keeps tagging the ones it knows?

    python -m benchmarks.studies.open_set_recipes --data ../shared/data/wonders7-train \\
        --other ../shared/data/otherlm-dev --ordinary ../shared/data/negatives-dev [--seeds 0,1,2]

Splits, seeded: the labelled photos into training, validation (which sets the thresholds) and test
(held-out photos of the known landmarks, stratified); the other landmarks **by landmark**, a half of
the folders as training negatives and the rest held out (the places users meet are ones the model
never saw); the ordinary photos by photo, half and half.

The backbone runs once per photo and view up to its last stage; what follows (last stage, head
convolution, classifier) is either kept frozen or trained, so every recipe starts from the same
features. For each recipe and seed: the share of held-out known-landmark photos tagged and the top-1
of those tagged, the share of held-out other landmarks and ordinary photos tagged (a tag needs the
landmark score at its threshold and the calibrated top-1 at its confidence threshold, as in a scan),
the AUROC of the landmark score between held-out known and other landmarks, and training seconds.

Recipes (`RECIPES`; `--recipes a,b`): `frozen` (a linear head, the threshold from the validation
photos); `frozen+negatives` (`--negatives`: the threshold also lets at most 1% of the training
negatives pass; `@2%`, `@3%` other rates); `+pooled-bank` (`train`'s default for a frozen backbone:
the validation photos join the bank, every photo scored against the others); `+12-known-among-them`
(12 held-out known photos go among the training negatives, as in a library used as negatives;
`-counted`: without setting aside the negatives that score like most landmark photos);
`+view-bank` (the augmented views of training photos join the bank); `frozen-gem` (GeM pooling
instead of the mean); `+oe` (outlier exposure: the negatives' outputs pushed towards uniform,
Hendrycks et al., 2019); `last-stage` (the backbone's last stage and head convolution learn with
the head); `last-stage+margin` (and each negative's cosine similarity to the landmark photos in
its batch is pushed below 0.4); `+leave-class-out@R` (the threshold also lets at most R of the
labelled photos through when each is scored with its own landmark left out of the bank: `train`'s
default, at 10%, since it was measured here). The landmark score's threshold is fitted by `train`'s own
`fit_landmark_scorer`. Each recipe is also judged with other scores as the gate (msp, energy, knn x
msp) on the line printed per seed; with a pooled bank those lines mean little (the validation
photos that set their thresholds are in the bank). `--backbone` and `--input-size` change the
features.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from landmark_tag.files.discover import discover_photos
from landmark_tag.model.openset import LANDMARK_LIKE_SHARE, auroc, choose_threshold
from landmark_tag.training.calibration import calibrate
from landmark_tag.training.data import (
    ImageFolderIndex,
    PhotoFolderDataset,
    index_image_folder,
    stratified_split,
)
from landmark_tag.training.landmark_score import fit_landmark_scorer
from landmark_tag.training.models import transfer_model

VIEWS = 2  # augmented views per training photo, besides the plain one (as `train`)


def photos_of(paths: list[str]) -> ImageFolderIndex:
    return ImageFolderIndex(Path("."), [], paths, [-1] * len(paths))


@dataclass
class Sets:
    train: ImageFolderIndex
    valid: ImageFolderIndex
    test: ImageFolderIndex
    negatives: ImageFolderIndex  # training negatives: other landmarks (some folders) and ordinary photos
    other: ImageFolderIndex  # held-out other landmarks (the other folders)
    ordinary: ImageFolderIndex  # held-out ordinary photos


def split(data: Path, other: Path, ordinary: Path, seed: int) -> Sets:
    index = index_image_folder(data)
    rest, test = stratified_split(index.targets, 0.2, seed)
    rest_index = index.subset(rest)
    train, valid = stratified_split(rest_index.targets, 0.25, seed)
    landmarks = sorted(p for p in other.iterdir() if p.is_dir())
    random.Random(seed).shuffle(landmarks)
    half = len(landmarks) // 2
    other_train = [p.path for p in discover_photos([str(p) for p in landmarks[:half]])]
    other_test = [p.path for p in discover_photos([str(p) for p in landmarks[half:]])]
    plain = sorted(p.path for p in discover_photos([str(ordinary)]))
    random.Random(seed).shuffle(plain)
    return Sets(
        rest_index.subset(train),
        rest_index.subset(valid),
        index.subset(test),
        photos_of(other_train + plain[: len(plain) // 2]),
        photos_of(other_test),
        photos_of(plain[len(plain) // 2 :]),
    )


class Trunk(nn.Module):
    """The backbone up to (not including) its last stage: frozen, run once per photo and view."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(model.conv_stem, model.bn1, *model.blocks[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)


class Tail(nn.Module):
    """The rest: last stage, head convolution, pooling (the features), classifier (the logits)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.last, self.conv_head, self.bn2 = model.blocks[-1], model.conv_head, model.bn2
        self.classifier = model.classifier

    gem: float | None = None  # generalised-mean pooling's power instead of the mean (Radenovic et al.)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.bn2(self.conv_head(self.last(x)))
        if self.gem is None:
            return maps.mean((2, 3))
        return maps.clamp(min=1e-6).pow(self.gem).mean((2, 3)).pow(1.0 / self.gem)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return features, self.classifier(features)


@torch.inference_mode()
def run_trunk(trunk: Trunk, data: Dataset) -> torch.Tensor:
    return torch.cat([trunk(inputs) for inputs, _ in DataLoader(data, batch_size=32, num_workers=2)])


@dataclass
class Cached:
    train: torch.Tensor  # plain views, then VIEWS augmented views
    train_targets: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    negatives: torch.Tensor  # plain, then augmented views
    negatives_plain: int
    other: torch.Tensor
    ordinary: torch.Tensor


def cache(trunk: Trunk, sets: Sets, prep) -> Cached:
    torch.manual_seed(0)

    def views(index: ImageFolderIndex) -> torch.Tensor:
        plain = PhotoFolderDataset(index, prep, train=False)
        augmented = PhotoFolderDataset(index, prep, train=True)
        return torch.cat([run_trunk(trunk, plain)] + [run_trunk(trunk, augmented) for _ in range(VIEWS)])

    def plain(index: ImageFolderIndex) -> torch.Tensor:
        return run_trunk(trunk, PhotoFolderDataset(index, prep, train=False))

    targets = torch.tensor(sets.train.targets).repeat(VIEWS + 1)
    return Cached(
        views(sets.train), targets, plain(sets.valid), plain(sets.test), views(sets.negatives),
        len(sets.negatives.paths), plain(sets.other), plain(sets.ordinary),
    )  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    train_last: bool = False  # the last stage and head convolution learn too (else only the head)
    outlier_exposure: float = 0.0  # weight of the negatives' cross-entropy to uniform outputs
    margin: float = 0.0  # weight of the negatives' similarity to landmark photos above MARGIN
    negatives_threshold: float | None = None  # false-tag rate on the training negatives, if used
    gem: float | None = None  # GeM pooling's power instead of the mean
    view_bank: bool = False  # the augmented views of training photos join the landmark score's bank
    # The validation photos join the bank, every photo scored against the others (`train`'s default
    # for a frozen backbone since it was measured here).
    pooled_bank: bool = False
    # This many held-out known photos are put among the training negatives (a user's library holds
    # some), with or without setting aside the negatives that score like most landmark photos.
    landmark_photos_among_negatives: int = 0
    set_aside_landmark_like: bool = True
    # The share of labelled photos, each scored with its own landmark left out, let through; None:
    # that rule is not used.
    unknown_rate: float | None = None


MARGIN = 0.4  # last-stage+margin: a negative's cosine similarity to any landmark photo above this costs


def train_tail(tail: Tail, cached: Cached, recipe: Recipe, epochs: int, seed: int) -> Tail:
    train_last, oe_weight, margin = recipe.train_last, recipe.outlier_exposure, recipe.margin
    torch.manual_seed(seed)
    tail = copy.deepcopy(tail)
    tail.eval()  # batch norm keeps its ImageNet statistics; its scale and shift may learn
    for parameter in tail.parameters():
        parameter.requires_grad_(train_last)
    for parameter in tail.classifier.parameters():
        parameter.requires_grad_(True)
    head_params = list(tail.classifier.parameters())
    body_params = [
        p for name, p in tail.named_parameters() if not name.startswith("classifier") and p.requires_grad
    ]
    optimizer = torch.optim.AdamW(
        [{"params": head_params, "lr": 2e-3}, {"params": body_params, "lr": 2e-4}], weight_decay=0.05
    )
    n, batch = len(cached.train), 32
    negatives = cached.negatives
    smoothing = nn.CrossEntropyLoss(label_smoothing=0.1)
    frozen_features = None
    if not train_last:  # the body does not learn: its features once
        with torch.no_grad():
            frozen_features = torch.cat([tail.features(x) for x in cached.train.split(256)])
            frozen_negatives = torch.cat([tail.features(x) for x in negatives.split(256)])
    for _ in range(epochs):
        order = torch.randperm(n)
        for start in range(0, n, batch):
            rows = order[start : start + batch]
            if frozen_features is not None:
                features = frozen_features[rows]
                logits = tail.classifier(features)
            else:
                features, logits = tail(cached.train[rows])
            loss = smoothing(logits, cached.train_targets[rows])
            if oe_weight or margin:
                picked = torch.randint(len(negatives), (batch,))
                if frozen_features is not None:
                    negative_features = frozen_negatives[picked]
                    negative_logits = tail.classifier(negative_features)
                else:
                    negative_features, negative_logits = tail(negatives[picked])
                loss = loss + oe_weight * -negative_logits.log_softmax(1).mean()
                if margin:  # push each negative away from the landmark photos it is nearest to
                    unit = nn.functional.normalize
                    nearest = (unit(negative_features, dim=1) @ unit(features, dim=1).T).max(1).values
                    loss = loss + margin * (nearest - MARGIN).clamp(min=0).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return tail


@dataclass
class Result:
    known_tagged: float
    known_top1: float
    other_tagged: float
    ordinary_tagged: float
    auroc: float
    seconds: float
    by_score: dict[str, tuple[float, float, float]]  # other scores as the gate: known, other, ordinary tagged


@torch.no_grad()
def judge(tail: Tail, cached: Cached, sets: Sets, recipe: Recipe, seconds: float, seed: int) -> Result:
    def outputs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [tail(chunk) for chunk in x.split(256)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    bank_rows = cached.train if recipe.view_bank else cached.train[: len(sets.train.paths)]
    train_features, _ = outputs(bank_rows)
    bank_targets = cached.train_targets[: len(bank_rows)]
    valid_features, valid_logits = outputs(cached.valid)
    test, test_targets = cached.test, torch.tensor(sets.test.targets)
    negatives = cached.negatives[: cached.negatives_plain]
    if recipe.landmark_photos_among_negatives:  # taken from the known test photos
        mixed_in = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
        mixed_in, kept = (
            mixed_in[: recipe.landmark_photos_among_negatives],
            mixed_in[recipe.landmark_photos_among_negatives :],
        )
        negatives = torch.cat([negatives, test[mixed_in]])
        test, test_targets = test[kept], test_targets[kept]
    rate = recipe.negatives_threshold
    scorer = fit_landmark_scorer(
        train_features,
        bank_targets,
        valid_features,
        outputs(negatives)[0] if rate is not None else None,
        false_tag_rate=rate or 0.0,
        valid_targets=torch.tensor(sets.valid.targets) if recipe.pooled_bank else None,
        landmark_like_share=LANDMARK_LIKE_SHARE if recipe.set_aside_landmark_like else None,
        unknown_rate=recipe.unknown_rate,
    )
    with torch.enable_grad():  # the temperature is fitted by gradient
        calibration = calibrate(valid_logits, torch.tensor(sets.valid.targets))

    def scores(x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        features, logits = outputs(x)
        scaled = logits / calibration.temperature
        top1, predicted = scaled.softmax(1).max(1)
        knn = scorer.score(features)
        named = {"knn": knn, "msp": top1, "energy": scaled.logsumexp(1), "knn*msp": knn.clamp(min=0) * top1}
        return named, top1, predicted

    valid_scores, _, _ = scores(cached.valid)
    negative_scores = scores(negatives)[0] if rate is not None else None
    thresholds = {
        name: choose_threshold(
            valid_scores[name], negative_scores[name] if negative_scores else None, false_tag_rate=rate or 0.0
        )[0]
        for name in valid_scores
    }
    thresholds["knn"] = scorer.threshold  # as `train` fits it

    def tagged(x: torch.Tensor, name: str = "knn") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        named, top1, predicted = scores(x)
        passed = (named[name] >= thresholds[name]) & (top1 >= calibration.min_confidence)
        return passed, predicted, named["knn"]

    known, predicted, known_scores = tagged(test)
    right = predicted == test_targets
    other, _, other_scores = tagged(cached.other)
    ordinary, _, _ = tagged(cached.ordinary)
    by_score = {
        name: tuple(float(tagged(x, name)[0].double().mean()) for x in (test, cached.other, cached.ordinary))
        for name in thresholds
    }
    return Result(
        float(known.double().mean()),
        float(right[known].double().mean()) if known.any() else float("nan"),
        float(other.double().mean()),
        float(ordinary.double().mean()),
        auroc(known_scores, other_scores),
        seconds,
        by_score,  # type: ignore[arg-type]
    )


RECIPES = {
    "frozen": Recipe(),
    "frozen+negatives": Recipe(negatives_threshold=0.01),
    "frozen+negatives@2%": Recipe(negatives_threshold=0.02),
    "frozen+negatives@3%": Recipe(negatives_threshold=0.03),
    "frozen+oe": Recipe(outlier_exposure=0.5, negatives_threshold=0.01),
    "frozen+negatives+view-bank": Recipe(negatives_threshold=0.01, view_bank=True),
    "frozen+pooled-bank": Recipe(pooled_bank=True),
    "frozen+negatives+pooled-bank": Recipe(negatives_threshold=0.01, pooled_bank=True),
    "frozen+negatives@2%+pooled-bank": Recipe(negatives_threshold=0.02, pooled_bank=True),
    "frozen+negatives+12-known-among-them": Recipe(
        negatives_threshold=0.01, landmark_photos_among_negatives=12
    ),
    "frozen+negatives+12-known-among-them-counted": Recipe(
        negatives_threshold=0.01, landmark_photos_among_negatives=12, set_aside_landmark_like=False
    ),
    **{
        f"frozen+pooled-bank+leave-class-out@{rate:.0%}": Recipe(pooled_bank=True, unknown_rate=rate)
        for rate in (0.02, 0.05, 0.1, 0.2)
    },
    **{
        f"frozen+negatives+pooled-bank+leave-class-out@{rate:.0%}": Recipe(
            negatives_threshold=0.01, pooled_bank=True, unknown_rate=rate
        )
        for rate in (0.05, 0.1)
    },
    "frozen-gem": Recipe(gem=3.0),
    "frozen-gem+negatives": Recipe(gem=3.0, negatives_threshold=0.01),
    "last-stage": Recipe(train_last=True),
    "last-stage+oe": Recipe(train_last=True, outlier_exposure=0.5, negatives_threshold=0.01),
    "last-stage+margin": Recipe(train_last=True, margin=1.0, negatives_threshold=0.01),
}


def split_parser(description: str | None) -> argparse.ArgumentParser:
    """The arguments `split` needs: the labelled, other-landmark and ordinary photos' folders."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="labelled photos, one folder per class")
    parser.add_argument("--other", type=Path, required=True, help="other landmarks, one folder each")
    parser.add_argument("--ordinary", type=Path, required=True, help="photos of no landmark")
    return parser


def main() -> None:
    parser = split_parser(__doc__)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--input-size", type=int, help="the backbone's input size instead of its own")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--cache", type=Path, help="keep the trunk's features here between runs")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows: dict[str, list[Result]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        sets = split(args.data, args.other, args.ordinary, seed)
        trainable = transfer_model(args.backbone, len(sets.train.class_names))
        prep = trainable.preprocessing
        if args.input_size:  # the resize keeps the backbone's own crop ratio
            resize = round(args.input_size * prep.resize_size / prep.input_size)
            prep = dataclasses.replace(prep, input_size=args.input_size, resize_size=resize)
        model = trainable.model.eval()
        started = time.perf_counter()
        name = f"{args.backbone}-{prep.input_size}"
        stored = args.cache / f"{name}-{seed}.pt" if args.cache else None
        if stored is not None and stored.exists():
            cached = Cached(**torch.load(stored))
        else:
            cached = cache(Trunk(model), sets, prep)
            if stored is not None:
                stored.parent.mkdir(parents=True, exist_ok=True)
                torch.save(vars(cached), stored)
        cache_seconds = time.perf_counter() - started
        print(f"seed {seed}: trunk features in {cache_seconds:.0f} s", flush=True)
        for name in args.recipes.split(","):
            recipe = RECIPES[name]
            started = time.perf_counter()
            start = Tail(model)
            start.gem = recipe.gem
            tail = train_tail(start, cached, recipe, args.epochs, seed)
            result = judge(tail, cached, sets, recipe, time.perf_counter() - started, seed)
            rows.setdefault(name, []).append(result)
            gates = ", ".join(f"{k} {a:.0%}/{b:.0%}/{c:.0%}" for k, (a, b, c) in result.by_score.items())
            print(f"  {name}: known/other/ordinary tagged by gate: {gates}", flush=True)
    header = ["recipe", "known tagged", "top-1 of tagged", "other landmarks tagged", "ordinary tagged"]
    header += ["AUROC known/other", "training s"]
    print("\n| " + " | ".join(header) + " |\n" + "| --- " * len(header) + "|")
    fields = ("known_tagged", "known_top1", "other_tagged", "ordinary_tagged", "auroc", "seconds")
    for name, results in rows.items():
        known, top1, other, ordinary, area, seconds = (
            statistics.mean(getattr(r, field) for r in results) for field in fields
        )
        cells = [
            f"{known:.1%}",
            f"{top1:.3f}",
            f"{other:.1%}",
            f"{ordinary:.1%}",
            f"{area:.3f}",
            f"{seconds:.0f}",
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
