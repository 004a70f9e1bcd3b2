"""Do other features or other ways of scoring them tell famous landmarks the model does not know from
the ones it knows better than the landmark score's default (the pooled head of a frozen Lite0)?

    python -m benchmarks.studies.open_set_features --data ../shared/data/wonders7-train \\
        --other ../shared/data/otherlm-dev --ordinary ../shared/data/negatives-dev [--seeds 0,1,2,3,4]

The splits are `open_set_recipes.py`'s (by landmark for the other landmarks). No head is trained:
each variant is a descriptor per photo, scored as `train` scores a frozen backbone's features (the
training and validation photos in the bank, the threshold from their leave-one-out scores and the
training negatives at `--false-tag-rate`), or a different score. The tags here are the landmark
score's alone (no confidence gate), so the known photos tagged run a little higher than a scan's.

For each variant: the shares of held-out known photos, other landmarks and ordinary photos tagged
at the fitted threshold; the AUROC of the score between known and other landmarks; and **the
ceiling**: the share of known photos tagged at the threshold that lets exactly `--other-rate` (5%)
of the held-out other landmarks through, which no way of fitting a threshold can beat.

Variants (`VARIANTS`): `head-mean` (the default), `head-gem`, `head-max` (pooling of the head's
maps), `last-stage` (the last stage's output, before the head convolution), `head+last-stage`
(both, each unit length), `rmac+global` (regional maximum activations over 2 scales plus the
global mean, Tolias et al., 2016), `centred` (the mean of the training and negative photos taken
off first), `pca-whitened` (PCA whitening to 256 dimensions learned on them, Jégou and Chum,
2012), `local-match` (each of the query's 7x7 head vectors matched to its nearest in a bank photo,
averaged: a dense local match), `class-conditional` (the nearest bank photo of the class its
nearest class mean names), and with `--also efficientnet_lite1,...` each backbone alone and joined
to Lite0.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn.functional import normalize
from torch.utils.data import DataLoader

from benchmarks.studies.open_set_recipes import Sets, photos_of, split, split_parser
from landmark_tag.files.discover import discover_photos
from landmark_tag.model.openset import (
    LandmarkScorer,
    auroc,
    build_bank,
    choose_threshold,
    false_tag_threshold,
)
from landmark_tag.training.data import PhotoFolderDataset
from landmark_tag.training.models import transfer_model


def feature_maps(backbone: str, paths: list[str], cache: Path | None) -> dict[str, torch.Tensor]:
    """Per photo: the head's maps (fp16, n x c x h x w) and the last stage's mean-pooled output."""
    stored = cache / f"{backbone}-maps.pt" if cache else None
    if stored is not None and stored.exists():
        kept = torch.load(stored)
        if kept["paths"] == paths:
            return kept["maps"]
    maps = _run_backbone(backbone, paths)
    if stored is not None:
        stored.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"paths": paths, "maps": maps}, stored)
    return maps


@torch.inference_mode()
def _run_backbone(backbone: str, paths: list[str]) -> dict[str, torch.Tensor]:
    trainable = transfer_model(backbone, 2)
    model = trainable.model.eval()
    captured: dict[str, list[torch.Tensor]] = {"head": [], "last-stage": []}
    model.bn2.register_forward_hook(lambda _m, _i, out: captured["head"].append(out.half()))
    model.blocks[-1].register_forward_hook(
        lambda _m, _i, out: captured["last-stage"].append(out.mean((2, 3)))
    )
    dataset = PhotoFolderDataset(photos_of(paths), trainable.preprocessing, train=False)
    for inputs, _ in DataLoader(dataset, batch_size=32, num_workers=2):
        model(inputs)
    return {name: torch.cat(parts) for name, parts in captured.items()}


def rmac(maps: torch.Tensor) -> torch.Tensor:
    """Regional max pooling over 2 scales of square regions, each region unit length, summed with
    the global mean (unit length, weighted as all regions)."""
    size = min(maps.shape[2:])
    regions = []
    for level in (1, 2):
        width = max(1, round(2 * size / (level + 1)))
        starts = sorted({round(i * (size - width) / max(1, level - 1)) for i in range(level)})
        regions += [maps[:, :, y : y + width, x : x + width].amax((2, 3)) for y in starts for x in starts]
    summed = sum(normalize(r, dim=1) for r in regions)
    return summed + len(regions) * normalize(maps.mean((2, 3)), dim=1)


def whitening(fit_on: torch.Tensor, dims: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Centre by `fit_on`'s mean and, with `dims`, PCA-whiten to that many dimensions (shrunk by a
    tenth of the mean eigenvalue so the smallest do not blow up)."""
    points = normalize(fit_on.float(), dim=1)
    mean = points.mean(0)
    if dims is None:
        return lambda x: normalize(x.float(), dim=1) - mean
    values, vectors = torch.linalg.eigh(torch.cov((points - mean).T))
    values, vectors = values.flip(0)[:dims], vectors.flip(1)[:, :dims]
    projection = vectors * (values + 0.1 * values.mean()).rsqrt()
    return lambda x: (normalize(x.float(), dim=1) - mean) @ projection


@dataclasses.dataclass
class Outcome:
    known: float
    other: float
    ordinary: float
    auroc: float
    ceiling: float


def judge(scores: dict[str, torch.Tensor], loo: torch.Tensor, rate: float, other_rate: float) -> Outcome:
    threshold, _ = choose_threshold(loo, scores["negatives"], false_tag_rate=rate)
    known, other = scores["test"], scores["other"]
    ceiling = false_tag_threshold(other, other_rate)  # the lowest that lets `other_rate` of them pass

    def share(x: torch.Tensor, at: float) -> float:
        return float((x >= at).double().mean())

    return Outcome(
        share(known, threshold), share(other, threshold), share(scores["ordinary"], threshold),
        auroc(known, other), share(known, ceiling),
    )  # fmt: skip


def knn_outcome(
    descriptors: torch.Tensor, rows: dict[str, torch.Tensor], targets, rate, other_rate
) -> Outcome:
    """The landmark score as `train` fits it for a frozen backbone (pooled bank, leave-one-out)."""
    scorer = LandmarkScorer(build_bank(descriptors[rows["bank"]], targets), 1)
    scores = {name: scorer.score(descriptors[r]) for name, r in rows.items() if name != "bank"}
    return judge(scores, scorer.leave_one_out(), rate, other_rate)


def similarity_outcome(similarity: torch.Tensor, rows, rate, other_rate) -> Outcome:
    """Any score given as a (every photo x bank photo) similarity: the best bank photo's."""
    loo = similarity[rows["bank"]].clone().fill_diagonal_(-2.0).amax(1)
    scores = {name: similarity[r].amax(1) for name, r in rows.items() if name != "bank"}
    return judge(scores, loo, rate, other_rate)


def local_match(maps: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """(photos x bank photos): each query vector of the head's maps matched to its nearest in the
    bank photo, averaged."""
    vectors = normalize(maps.float().flatten(2).transpose(1, 2), dim=2)  # n, places, c
    places, channels = vectors.shape[1:]
    bank_vectors = vectors[bank].reshape(-1, channels)
    rows = []
    for chunk in vectors.split(16):
        similarity = chunk.reshape(-1, channels) @ bank_vectors.T
        rows.append(similarity.view(len(chunk), places, len(bank), places).amax(3).mean(1))
    return torch.cat(rows)


def class_conditional(descriptors: torch.Tensor, bank: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(photos x bank photos) cosine similarity, kept only for bank photos of the class whose mean
    is nearest."""
    unit = normalize(descriptors.float(), dim=1)
    means = normalize(torch.stack([unit[bank][targets == c].mean(0) for c in targets.unique()]), dim=1)
    named = (unit @ means.T).argmax(1)
    similarity = unit @ unit[bank].T
    return torch.where(targets[None, :] == targets.unique()[named][:, None], similarity, torch.tensor(-1.0))


def main() -> None:
    parser = split_parser(__doc__)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--false-tag-rate", type=float, default=0.01)
    parser.add_argument(
        "--other-rate", type=float, default=0.05, help="the ceiling's share of other landmarks"
    )
    parser.add_argument("--cache", type=Path, help="keep the backbones' outputs here between runs")
    parser.add_argument("--also", default="", help="more backbones, comma-separated (efficientnet_lite1,...)")
    args = parser.parse_args()
    paths = sorted(
        {p.path for d in (args.data, args.other, args.ordinary) for p in discover_photos([str(d)])}
    )
    row_of = {path: i for i, path in enumerate(paths)}
    print(f"{len(paths)} photos through the backbones", flush=True)
    lite0 = feature_maps("efficientnet_lite0", paths, args.cache)
    head = lite0["head"].float()
    descriptors = {
        "head-mean": head.mean((2, 3)),
        "head-gem": head.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3),
        "head-max": head.amax((2, 3)),
        "last-stage": lite0["last-stage"],
        "head+last-stage": torch.cat(
            [normalize(head.mean((2, 3)), dim=1), normalize(lite0["last-stage"], dim=1)], 1
        ),
        "rmac+global": rmac(head),
    }
    for backbone in filter(None, args.also.split(",")):
        other = feature_maps(backbone, paths, args.cache)["head"].float().mean((2, 3))
        descriptors[backbone] = other
        descriptors[f"lite0+{backbone}"] = torch.cat(
            [normalize(descriptors["head-mean"], dim=1), normalize(other, dim=1)], 1
        )
    outcomes: dict[str, list[Outcome]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        sets: Sets = split(args.data, args.other, args.ordinary, seed)
        rows = {
            name: torch.tensor([row_of[p] for p in index.paths])
            for name, index in (
                ("bank", photos_of(sets.train.paths + sets.valid.paths)), ("test", sets.test),
                ("negatives", sets.negatives), ("other", sets.other), ("ordinary", sets.ordinary),
            )
        }  # fmt: skip
        targets = torch.tensor(sets.train.targets + sets.valid.targets)
        fitted = torch.cat([rows["bank"], rows["negatives"]])
        default = descriptors["head-mean"]
        variants = dict(descriptors)
        variants["centred"] = whitening(default[fitted], None)(default)
        variants["pca-whitened"] = whitening(default[fitted], 256)(default)
        for name, values in variants.items():
            outcome = knn_outcome(values, rows, targets, args.false_tag_rate, args.other_rate)
            outcomes.setdefault(name, []).append(outcome)
        for name, similarity in (
            ("local-match", local_match(lite0["head"], rows["bank"])),
            ("class-conditional", class_conditional(default, rows["bank"], targets)),
        ):
            outcomes.setdefault(name, []).append(
                similarity_outcome(similarity, rows, args.false_tag_rate, args.other_rate)
            )
        print(f"seed {seed} done", flush=True)
    header = ["features or score", "known tagged", "other landmarks tagged", "ordinary tagged"]
    header += [
        "AUROC known/other",
        f"ceiling: known tagged at {args.other_rate:.0%} other",
        "ceiling, worst split",
    ]
    print("\n| " + " | ".join(header) + " |\n" + "| --- " * len(header) + "|")
    for name, results in outcomes.items():
        mean = {
            f.name: statistics.mean(getattr(r, f.name) for r in results) for f in dataclasses.fields(Outcome)
        }
        worst = min(r.ceiling for r in results)
        cells = [f"{mean['known']:.1%}", f"{mean['other']:.1%}", f"{mean['ordinary']:.1%}"]
        cells += [f"{mean['auroc']:.3f}", f"{mean['ceiling']:.1%}", f"{worst:.1%}"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
