"""Which open-set score tells landmark photos from photos of no landmark? Several, side by side.

    python -m benchmarks.studies.landmark_score_methods MODEL TRAIN_DIR NAME=PATH[,PATH...] [NAME=PATH ...]

MODEL is a checkpoint made by `landmark-tag train` from TRAIN_DIR. The positives are its held-out
validation photos (rebuilt from the split recorded in the checkpoint); each NAME=PATH is a set of
negatives: folders or single photos that show none of the model's landmarks. For every score it
prints the AUROC and the share of each negative set that passes the threshold keeping 95% of the
validation photos (FPR at 95% TPR). The scores compared:

- msp: the top-1 softmax probability at the model's temperature (what `uncertain` uses);
- energy: logsumexp of the logits at that temperature (Liu et al., 2020); max-logit;
- knn-k: cosine similarity of the penultimate features to the k-th nearest training photo's
  (Sun et al., 2022); the landmark score `landmark-tag` uses is knn-1;
- prototype: cosine similarity to the nearest class mean;
- mahalanobis: class-conditional Mahalanobis distance with a shared, shrunk covariance (Lee et
  al., 2018);
- with --background NAME, knn-1-background: knn-1 minus the similarity to the nearest photo of
  that negative set, which then serves as a bank of "no landmark" photos (on that set itself the
  row means little).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from landmark_tag.files.discover import discover_photos
from landmark_tag.model.checkpoint import load_model
from landmark_tag.model.openset import auroc, recall_threshold
from landmark_tag.training.data import ImageFolderIndex, index_image_folder
from landmark_tag.training.evaluate import PhotoOutputs, photo_outputs, training_split

SHRINKAGE = 0.5  # Mahalanobis: covariance (1 - s) * sample + s * scaled identity; 1280 features, few photos


def negatives_index(paths: str) -> ImageFolderIndex:
    photos = [photo.path for photo in discover_photos(paths.split(","))]
    return ImageFolderIndex(Path("."), [], photos, [-1] * len(photos))


def scores(
    outputs: PhotoOutputs, train: PhotoOutputs, temperature: float, background: PhotoOutputs | None
) -> dict[str, torch.Tensor]:
    logits, features = outputs.logits / temperature, outputs.features
    normalised = torch.nn.functional.normalize
    similarity = normalised(features, dim=1) @ normalised(train.features, dim=1).T
    classes = train.targets.unique()
    means = torch.stack([train.features[train.targets == c].mean(0) for c in classes])
    centred = train.features - means[torch.searchsorted(classes, train.targets)]
    covariance = centred.T @ centred / len(centred)
    covariance = (1 - SHRINKAGE) * covariance + SHRINKAGE * covariance.diagonal().mean() * torch.eye(
        len(covariance)
    )
    precision = torch.linalg.inv(covariance.double()).float()
    offsets = features[:, None, :] - means[None]
    distances = torch.einsum("ncd,de,nce->nc", offsets, precision, offsets)
    result = {
        "msp": torch.softmax(logits, 1).max(1).values,
        "energy": torch.logsumexp(logits, 1),
        "max-logit": logits.max(1).values,
    }
    for k in (1, 5, 10):
        result[f"knn-{k}"] = similarity.topk(min(k, similarity.shape[1]), dim=1).values[:, -1]
    result["prototype"] = (normalised(features, dim=1) @ normalised(means, dim=1).T).max(1).values
    result["mahalanobis"] = -distances.min(1).values
    if background is not None:
        negative = normalised(features, dim=1) @ normalised(background.features, dim=1).T
        result["knn-1-background"] = result["knn-1"] - negative.max(1).values
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("train_dir")
    parser.add_argument("negatives", nargs="+", help="NAME=PATH[,PATH...]")
    parser.add_argument("--background", help="NAME of a negative set to use as a background bank too")
    args = parser.parse_args()
    device = torch.device("cpu")
    loaded = load_model(args.model, device)
    train_args = loaded.spec.metadata.get("train_args", {})
    index = index_image_folder(args.train_dir, loaded.spec.class_names)
    train = photo_outputs(loaded, training_split(index, train_args, "train"), device)
    valid = photo_outputs(loaded, training_split(index, train_args, "valid"), device)
    negatives = {}
    for spec in args.negatives:
        name, _, paths = spec.partition("=")
        negatives[name] = photo_outputs(loaded, negatives_index(paths), device)
    background = negatives[args.background] if args.background else None
    positive = scores(valid, train, loaded.spec.temperature, background)
    negative_sets = {
        f"{name} ({len(outputs.targets)})": scores(outputs, train, loaded.spec.temperature, background)
        for name, outputs in negatives.items()
    }
    header = f"| score | {' | '.join(negative_sets)} |"
    print(f"{len(valid.targets)} validation photos against each negative set: AUROC / FPR at 95% TPR\n")
    print(header)
    print("|" + " --- |" * (len(negative_sets) + 1))
    for method, values in positive.items():
        threshold = recall_threshold(values, 0.95)
        cells = [
            f"{auroc(values, sets[method]):.3f} / {(sets[method] >= threshold).double().mean():.1%}"
            for sets in negative_sets.values()
        ]
        print(f"| {method} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
