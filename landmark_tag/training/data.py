"""Training data: an ImageFolder tree, a seeded stratified validation split, and the transforms.

Photos are read with the scan's own decoder (draft mode, EXIF orientation, any mode -> RGB), so a
model trains on exactly the pixels it will later see in a scan.
"""

from __future__ import annotations

import logging
import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from landmark_tag.errors import ConfigError, LandmarkTagError
from landmark_tag.files.discover import discover_photos
from landmark_tag.files.images import DecodeError, load_rgb, register_heif
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.model.transforms import eval_transform, train_transform

logger = logging.getLogger(__name__)


class DatasetError(LandmarkTagError, ValueError):
    """A training or evaluation folder that is missing, empty, or not in ImageFolder layout."""


@dataclass
class ImageFolderIndex:
    """Every photo of an ImageFolder tree (`root/<class>/<photo>`), with its class index."""

    root: Path
    class_names: list[str]
    paths: list[str]
    targets: list[int]

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, indices: Sequence[int]) -> ImageFolderIndex:
        return ImageFolderIndex(
            self.root, self.class_names, [self.paths[i] for i in indices], [self.targets[i] for i in indices]
        )


def _not_a_folder(root: Path, wanted: str) -> str:
    if root.exists():
        return f"{root} is a file, not a folder: give {wanted}"
    return f"no such folder: {root}"


def index_image_folder(root: str | os.PathLike, class_names: Sequence[str] | None = None) -> ImageFolderIndex:
    """Index `root/<class>/...`. With `class_names`, folders map onto those classes (a subset is fine)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(_not_a_folder(root, "an ImageFolder: <folder>/<class name>/<photos>"))
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(f"{root} has no class folders: expected {root}/<class name>/<photos>")
    names = list(class_names) if class_names is not None else folders
    unknown = [f for f in folders if f not in names]
    if unknown:
        raise DatasetError(f"{root} has classes the model does not know: {', '.join(unknown[:5])}")
    paths, targets = [], []
    for folder in folders:
        for photo in discover_photos([root / folder]):
            paths.append(photo.path)
            targets.append(names.index(folder))
    if not paths:
        raise DatasetError(f"{root} has class folders but no photos in them")
    return ImageFolderIndex(root, names, paths, targets)


def index_negatives(roots: str | os.PathLike | Sequence[str | os.PathLike]) -> ImageFolderIndex:
    """Every photo under each of `roots`, at any depth, as photos of no class (target -1):
    negatives."""
    folders = [Path(roots)] if isinstance(roots, str | os.PathLike) else [Path(root) for root in roots]
    if not folders:
        raise DatasetError("no folder of negative photos given")
    paths: list[str] = []
    for root in folders:
        if not root.is_dir():
            raise DatasetError(_not_a_folder(root, "a folder of photos"))
        found = [photo.path for photo in discover_photos([root])]
        if not found:
            raise DatasetError(f"{root} has no photos")
        paths.extend(found)
    return ImageFolderIndex(folders[0], [], paths, [-1] * len(paths))


def limit_per_class(index: ImageFolderIndex, limit: int | None) -> ImageFolderIndex:
    """The first `limit` photos of each class (all of them when `limit` is None)."""
    if not limit:
        return index
    taken: dict[int, int] = {}
    keep = []
    for i, target in enumerate(index.targets):
        if taken.get(target, 0) < limit:
            taken[target] = taken.get(target, 0) + 1
            keep.append(i)
    return index.subset(keep)


def stratified_split(targets: Sequence[int], valid_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split indices so each class keeps about `valid_fraction` of its photos for validation.

    Every class with at least two photos gets at least one validation photo; the result depends only
    on `targets`, `valid_fraction` and `seed`.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ConfigError("valid_fraction (--valid-fraction) must be between 0 and 1")
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, target in enumerate(targets):
        by_class[target].append(index)
    rng = random.Random(seed)
    train, valid = [], []
    for target in sorted(by_class):
        indices = by_class[target]
        rng.shuffle(indices)
        n_valid = round(len(indices) * valid_fraction)
        n_valid = min(max(n_valid, 1 if len(indices) > 1 else 0), len(indices) - 1)
        valid += indices[:n_valid]
        train += indices[n_valid:]
    return sorted(train), sorted(valid)


class PhotoFolderDataset(Dataset):
    """(pixels, class index) pairs; `train=True` applies augmentation, else the scan's eval transform."""

    def __init__(self, index: ImageFolderIndex, preprocessing: Preprocessing, train: bool) -> None:
        self.index = index
        # Decode at up to twice the input size so random crops keep detail; eval needs only the resize size.
        self.decode_size = preprocessing.resize_size * (2 if train else 1)
        register_heif()
        self.transform = train_transform(preprocessing) if train else eval_transform(preprocessing)

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int) -> Image.Image:
        return load_rgb(self.index.paths[i], self.decode_size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        # A broken photo in a training set costs that photo, not the run: use the next good one.
        for attempt in range(len(self)):
            j = (i + attempt) % len(self)
            try:
                return self.transform(self.load(j)), self.index.targets[j]
            except DecodeError as exc:
                logger.warning("skipping %s: %s", self.index.paths[j], exc)
        raise DatasetError(
            f"none of the {len(self)} photos could be decoded (the first: {self.index.paths[0]})"
        )
