"""Stage 4: read EXIF and decode photos in DataLoader workers, and batch them for the model.

Each photo is examined in a worker: EXIF first, so located photos are never decoded, then decode.
Nothing a photo does may raise out of a worker, because one exception there would end the whole
DataLoader; every problem becomes an `error` on that photo's item instead.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from landmark_tag.images import EMPTY_FILE, DecodeError, describe_os_error
from landmark_tag.pipeline.decode import PhotoDecoder, exif_orientation, wants_device_decode
from landmark_tag.pipeline.discover import PhotoFile
from landmark_tag.pipeline.exif import GpsFix, read_gps, read_gps_pillow
from landmark_tag.pipeline.worker_loss import InProgress
from landmark_tag.storage import open_binary

logger = logging.getLogger(__name__)

# Formats whose EXIF exifread does not find; Pillow has parsed it by the time the header is read.
_PILLOW_EXIF_FORMATS = frozenset({"WEBP"})


@dataclass
class PhotoItem:
    """One photo after EXIF and decode: located (gps), failed (error), decoded (pixels), or, with
    --gpu-decode, a large JPEG left for the GPU to decode (jpeg bytes and EXIF orientation)."""

    photo: PhotoFile
    gps: GpsFix | None = None
    error: str | None = None
    pixels: torch.Tensor | None = None
    decoded: bool = False
    jpeg: torch.Tensor | None = None
    orientation: int = 1


@contextlib.contextmanager
def messages_about(photo: PhotoFile) -> Iterator[None]:
    """Report what Pillow warns or logs while it reads one photo as a warning naming that photo,
    instead of letting it reach the terminal and the log file with no file name."""
    records: list[logging.LogRecord] = []
    collect = _Collect(records)
    pillow = logging.getLogger("PIL")
    pillow.addHandler(collect)
    propagate, pillow.propagate = pillow.propagate, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        pillow.removeHandler(collect)
        pillow.propagate = propagate
    for message in [record.getMessage() for record in records] + [str(w.message) for w in caught]:
        logger.warning("%s: %s", photo.path, message)


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def examine_photo(
    photo: PhotoFile,
    decoder: PhotoDecoder,
    include_gps: bool = False,
    storage_options: dict | None = None,
    device_jpeg_min_bytes: int | None = None,
) -> PhotoItem:
    """Read one photo's GPS and, unless it is located and skipped, its pixels. Never raises.

    With `device_jpeg_min_bytes`, JPEGs at least that large come back as bytes, for the GPU."""
    with messages_about(photo):
        return _examine(photo, decoder, include_gps, storage_options, device_jpeg_min_bytes)


def _examine(
    photo: PhotoFile,
    decoder: PhotoDecoder,
    include_gps: bool,
    storage_options: dict | None,
    device_jpeg_min_bytes: int | None,
) -> PhotoItem:
    if photo.size_bytes == 0:
        return PhotoItem(photo, error=EMPTY_FILE)
    gps = None
    try:
        with open_binary(photo.path, storage_options) as handle:
            gps = read_gps(handle)
            if gps is not None and not include_gps:
                return PhotoItem(photo, gps=gps)
            handle.seek(0)
            with decoder.open(handle) as image:
                if gps is None and image.format in _PILLOW_EXIF_FORMATS:
                    gps = read_gps_pillow(image)
                    if gps is not None and not include_gps:
                        return PhotoItem(photo, gps=gps)
                if device_jpeg_min_bytes is not None and wants_device_decode(
                    image, photo.size_bytes, device_jpeg_min_bytes
                ):
                    orientation = exif_orientation(image)
                    handle.seek(0)
                    jpeg = torch.frombuffer(bytearray(handle.read()), dtype=torch.uint8)
                    return PhotoItem(photo, gps=gps, jpeg=jpeg, orientation=orientation)
                pixels = decoder.pixels(image)
    except DecodeError as exc:
        return PhotoItem(photo, gps=gps, error=str(exc))
    except OSError as exc:
        return PhotoItem(photo, gps=gps, error=describe_os_error(exc))
    except Exception as exc:  # a decoder bug must cost one photo, not the scan
        return PhotoItem(photo, gps=gps, error=f"unexpected error: {type(exc).__name__}: {exc}")
    return PhotoItem(photo, gps=gps, pixels=pixels, decoded=True)


class PhotoDataset(Dataset):
    def __init__(
        self,
        photos: Sequence[PhotoFile],
        decoder: PhotoDecoder,
        include_gps: bool = False,
        storage_options: dict | None = None,
        device_jpeg_min_bytes: int | None = None,
        in_progress: InProgress | None = None,
    ) -> None:
        self.photos = photos
        self.decoder = decoder
        self.include_gps = include_gps
        self.storage_options = storage_options
        self.device_jpeg_min_bytes = device_jpeg_min_bytes
        self.in_progress = in_progress

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> PhotoItem:
        photo = self.photos[index]
        if self.in_progress is not None:
            self.in_progress.reading(index)
        item = examine_photo(
            photo, self.decoder, self.include_gps, self.storage_options, self.device_jpeg_min_bytes
        )
        if self.in_progress is not None:
            self.in_progress.done()
        return item


@dataclass
class PhotoBatch:
    """A batch in scan order; `pixels` stacks the decoded items' tensors, in the same order."""

    items: list[PhotoItem]
    pixels: torch.Tensor | None

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
        yield PhotoBatch(items, pixels)


def collate_photos(items: list[PhotoItem]) -> PhotoBatch:
    """Stack the decoded photos; failed and located ones travel along without pixels, and JPEGs for
    the GPU with their bytes."""
    decoded = [item.pixels for item in items if item.decoded and item.pixels is not None]
    pixels = torch.stack(decoded) if decoded else None
    for item in items:
        item.pixels = None  # the stacked copy is the only one sent back from the worker
    return PhotoBatch(items, pixels)


def make_loader(
    photos: Sequence[PhotoFile],
    decoder: PhotoDecoder,
    *,
    batch_size: int,
    workers: int,
    include_gps: bool = False,
    pin_memory: bool = False,
    storage_options: dict | None = None,
    device_jpeg_min_bytes: int | None = None,
    in_progress: InProgress | None = None,
) -> DataLoader:
    """A DataLoader that yields `PhotoBatch`es in the order of `photos`; with `in_progress`, each
    worker marks there the photo it is reading."""
    return DataLoader(
        PhotoDataset(photos, decoder, include_gps, storage_options, device_jpeg_min_bytes, in_progress),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_photos,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers > 0 else None,
        worker_init_fn=_setup_worker if workers > 0 else None,
    )


def _setup_worker(worker_id: int) -> None:
    # Workers keep the scan's priority. Below it (nice 19 once), they filled the model's gaps no
    # better on an idle machine, and beside other work they starved (`benchmarks/worker_priority.py`).
    # `nice landmark-tag scan` lowers the whole scan.
    # A SIGTERM sent to the whole process group (as systemd and Kubernetes do) is the main
    # process's to handle: it commits and shuts the workers down. A worker dying of it first would
    # only turn that clean stop into a "DataLoader worker killed" error.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # multiprocessing's resource sharer (the thread that hands a batch's shared memory to the main
    # process) reports its errors through sys.excepthook.
    sys.excepthook = _quiet_when_the_main_process_left


def _quiet_when_the_main_process_left(kind: type[BaseException], error: BaseException, trace) -> None:
    """When the main process stops (Ctrl-C, SIGTERM) in the middle of a hand-over, the hand-over's
    connection breaks. That is expected, and no traceback of it should reach the terminal or log."""
    if issubclass(kind, (ConnectionError, EOFError)):
        return
    sys.__excepthook__(kind, error, trace)
