"""Examined photos stacked into `PhotoBatch`es for the model, in scan order; shared by both engines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from landmark_tag.pipeline.execute.examine import PhotoItem


@dataclass
class PhotoBatch:
    """A batch in scan order; `pixels` stacks the decoded items' tensors, in the same order."""

    items: list[PhotoItem]
    pixels: torch.Tensor | None
    shard: int = 0  # every item of a batch belongs to this shard (see `shards`)

    def pin_memory(self) -> PhotoBatch:  # called by the DataLoader when pin_memory=True
        if self.pixels is not None:
            self.pixels = self.pixels.pin_memory()
        return self


def split_batch(batch: PhotoBatch, size: int) -> Iterator[PhotoBatch]:
    """The batch in order, as batches of at most `size` photos (a Ray shard -> model batches)."""
    decoded_before = 0
    for start in range(0, len(batch.items), size):
        items = batch.items[start : start + size]
        decoded = sum(item.decoded for item in items)
        pixels = None
        if decoded and batch.pixels is not None:
            pixels = batch.pixels[decoded_before : decoded_before + decoded]
        decoded_before += decoded
        yield PhotoBatch(items, pixels, batch.shard)


def collate_photos(items: list[PhotoItem]) -> PhotoBatch:
    """Stack the decoded photos; failed and located ones travel along without pixels, and JPEGs for
    the GPU with their bytes."""
    decoded = [item.pixels for item in items if item.decoded and item.pixels is not None]
    pixels = torch.stack(decoded) if decoded else None
    for item in items:
        item.pixels = None  # the stacked copy is the only one sent back from the worker
    return PhotoBatch(items, pixels, items[0].shard if items else 0)
