"""Decoding on the GPU (opt-in, `scan --gpu-decode`): large JPEGs decoded by nvJPEG.

A decode worker that meets a large JPEG sends its bytes and EXIF orientation instead of pixels
(`decode.wants_device_decode`); the main process decodes them as one batch on the device, turns them
upright, resizes, crops and normalises them there, and puts them back into the batch in scan order
(`decode_on_device`). This takes the most expensive work of a CPU-bound scan, the full-size JPEG
decode, off the CPU cores. A JPEG that nvJPEG refuses is decoded by Pillow instead, in the main
process; one that Pillow refuses too becomes a failed row like any other.

torchvision deprecates its decode_jpeg in 0.29 in favour of TorchCodec, but it remains the CUDA
JPEG decoder that ships with the torch versions this project supports.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

import torch
from torchvision.io import ImageReadMode, decode_jpeg

from landmark_tag.files.images import DecodeError
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.model.transforms import tensor_eval_transform
from landmark_tag.pipeline.execute.batch import PhotoBatch
from landmark_tag.pipeline.execute.decode import PhotoDecoder


def upright(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """Turn a CHW image upright as its EXIF orientation says (as Pillow's exif_transpose does)."""
    if orientation == 2:
        return image.flip(-1)
    if orientation == 3:
        return image.flip(-2, -1)
    if orientation == 4:
        return image.flip(-2)
    if orientation == 5:
        return image.transpose(-2, -1)
    if orientation == 6:
        return image.rot90(-1, dims=(-2, -1))
    if orientation == 7:  # the transverse: mirrored along the other diagonal
        return image.transpose(-2, -1).flip(-2, -1)
    if orientation == 8:
        return image.rot90(1, dims=(-2, -1))
    return image


class DeviceJpegDecoder:
    """Decodes JPEG bytes on `device` into the model's normalised input tensors."""

    def __init__(
        self, preprocessing: Preprocessing, device: torch.device | str, dtype: torch.dtype = torch.float32
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype  # of the tensors made; see Predictor.input_dtype
        self.transform = tensor_eval_transform(preprocessing)

    def _decode(self, jpegs: list[torch.Tensor]) -> list[torch.Tensor]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
            return decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=self.device)

    def __call__(self, jpegs: list[torch.Tensor], orientations: list[int]) -> list[torch.Tensor | None]:
        """One input tensor per JPEG, in order; None for a JPEG this decoder cannot read."""
        try:
            images: list[torch.Tensor | None] = list(self._decode(jpegs))
        except RuntimeError:  # one bad JPEG fails the whole batch: find it
            images = []
            for jpeg in jpegs:
                try:
                    images.append(self._decode([jpeg])[0])
                except RuntimeError:
                    images.append(None)
        return [
            None if image is None else self.transform(upright(image, orientation)).to(self.dtype)
            for image, orientation in zip(images, orientations, strict=True)
        ]


def decode_on_device(batch: PhotoBatch, decoder: DeviceJpegDecoder, fallback: PhotoDecoder) -> PhotoBatch:
    """Decode the batch's JPEG bytes on the device and merge them with the pixels the workers
    decoded, in scan order, so that `batch.pixels` again holds one row per decoded item."""
    waiting = [(item, item.jpeg) for item in batch.items if item.jpeg is not None]
    if not waiting:
        return batch
    decoded = decoder([jpeg for _, jpeg in waiting], [item.orientation for item, _ in waiting])
    for (item, jpeg), pixels in zip(waiting, decoded, strict=True):
        if pixels is None:  # nvJPEG refused it: Pillow may still read it (and say why if not)
            try:
                pixels = fallback(io.BytesIO(jpeg.numpy().tobytes()))
            except DecodeError as exc:
                item.error = str(exc)
        item.pixels, item.decoded, item.jpeg = pixels, pixels is not None, None
    # Items decoded here hold their own pixels; the workers' ones are rows of batch.pixels, in order.
    from_workers: Iterator[torch.Tensor] = iter(batch.pixels if batch.pixels is not None else [])
    rows = []
    for item in batch.items:
        if item.decoded:
            pixels = next(from_workers) if item.pixels is None else item.pixels
            rows.append(pixels.to(decoder.device, decoder.dtype, non_blocking=True))
            item.pixels = None
    batch.pixels = torch.stack(rows) if rows else None
    return batch
