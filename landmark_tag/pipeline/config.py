"""What a scan is asked to do: `ScanConfig`, the options as given (the CLI's, or the Python API's).

`check` refuses what cannot work without looking at the model; `resolve.resolve_scan` then works
every setting out once, with the model, into the frozen `ResolvedScan` that the scan's steps read.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from landmark_tag.errors import ConfigError
from landmark_tag.files.images import DEFAULT_MAX_PIXELS
from landmark_tag.files.results import output_format
from landmark_tag.files.storage import is_url, local_path
from landmark_tag.pipeline.shards import DEFAULT_COMMIT_ROWS

ENGINES = ("local", "ray")


@dataclass
class ScanConfig:
    inputs: list[str]
    out: str
    model: str | None = None  # checkpoint path; None means the default location `train` writes to
    k: int = 3
    batch_size: int | None = None  # photos per model batch; None: default_batch_size() for the device
    workers: int | None = None  # local engine's decode processes; None: default_workers(); 0: in-process
    threads: int | None = None  # inference threads (per Ray actor); None: default_threads()
    device: str = "auto"
    include_gps: bool = False  # also tag photos that EXIF GPS already locates
    recursive: bool = True
    include_hidden: bool = False
    output_format: str | None = None  # None: from the output's suffix
    full: bool = False  # ignore the earlier output and tag everything again
    prune: bool = False  # drop rows of photos no longer in the tree
    force_prune: bool = False  # prune even an empty tree, or more than MAX_PRUNE_SHARE of the rows
    storage_options: dict | None = None  # fsspec options for URLs, e.g. {"endpoint_url": ...}
    min_confidence: float | None = None  # None: the threshold stored in the checkpoint
    min_landmark_score: float | None = None  # None: the threshold stored in the checkpoint
    precision: str = "auto"  # auto, fp32, bf16 or int8 (with runtime; see runtime.runners)
    runtime: str = "auto"  # auto (openvino on a CPU, torch on a GPU), torch or openvino
    commit_rows: int = DEFAULT_COMMIT_ROWS  # photos per shard: the unit of work and of commit
    write_xmp: bool = False  # write an XMP sidecar beside each tagged photo
    gpu_decode: bool = False  # decode large JPEGs on the GPU (nvJPEG); needs a CUDA device
    max_pixels: int = DEFAULT_MAX_PIXELS  # most pixels a photo may decode to; larger ones fail
    engine: str = "local"  # local, or ray (pip install 'landmark-tag[ray]')
    ray_address: str | None = None  # None: start a local Ray; "auto" or "ray://HOST:10001": join one
    actors: int | None = None  # Ray model actors; None: one per GPU, or one per node without GPUs
    gpx: tuple[str, ...] = ()  # GPS tracks (.gpx files, or folders of them) to locate photos by
    gpx_offset: str | None = None  # added to camera clocks to get the tracks' ("+01:00", "-3600")

    def check(self) -> None:
        """Refuse options that cannot work, or that would be silently ignored, before anything
        (the model included) is loaded."""
        self._check_engine_options()
        if self.force_prune and not self.prune:
            raise ConfigError("force_prune (--force-prune) only applies with prune (--prune)")
        if self.commit_rows < 1:
            raise ConfigError("commit_rows (--commit-every) must be at least 1")
        if self.k < 1:
            raise ConfigError("k (--k) must be at least 1")
        output_format(self.out, self.output_format)  # an unknown format is refused here
        if self.gpx_offset is not None:
            if not self.gpx:
                raise ConfigError("gpx_offset (--gpx-offset) only applies with GPS tracks (--gpx)")
            offset_seconds(self.gpx_offset)
        if not is_url(self.out) and os.path.isdir(local_path(self.out)):
            raise ConfigError(
                f"the output (--out) {self.out} is a folder: give a file name, such as "
                f"{os.path.join(self.out, 'tags.parquet')}"
            )

    def _check_engine_options(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r} (--engine): use {' or '.join(ENGINES)}")
        if self.engine == "local":
            ray_only = {"ray_address": self.ray_address, "actors": self.actors}
            given = [name for name, value in ray_only.items() if value is not None]
            if given:
                flags = ", ".join(f"{name} (--{name.replace('_', '-')})" for name in given)
                raise ConfigError(f"{flags} only apply with the Ray engine (engine='ray', --engine ray)")
            return
        if self.workers is not None:
            raise ConfigError(
                "workers (--workers) sets the local engine's decode processes; with the Ray engine, "
                "Ray runs decoding as tasks on every CPU of the cluster: leave it out"
            )
        if self.gpu_decode:
            raise ConfigError(
                "gpu_decode (--gpu-decode) is not available with the Ray engine: Ray decodes on the "
                "cluster's CPUs; leave it out"
            )
        if self.actors is not None and self.actors < 1:
            raise ConfigError("actors (--actors) must be at least 1")


# A camera clock can be years off (reset to its maker's date), never centuries.
MAX_CLOCK_OFFSET_S = 50 * 365.25 * 86400


def offset_seconds(text: str) -> float:
    """A clock offset as `--gpx-offset` takes it: seconds ("-3600", "90.5") or [+-]HH:MM[:SS],
    finite and within MAX_CLOCK_OFFSET_S."""
    seconds = _offset_seconds(text)
    if not math.isfinite(seconds) or abs(seconds) > MAX_CLOCK_OFFSET_S:
        raise ConfigError(
            f"gpx_offset (--gpx-offset) {text!r} is not a clock offset: give one within 50 years"
        )
    return seconds


def _offset_seconds(text: str) -> float:
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    sign = -1.0 if value.startswith("-") else 1.0
    parts = value.lstrip("+-").split(":")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        numbers = []
    if not 2 <= len(numbers) <= 3 or any(n < 0 for n in numbers) or any(n >= 60 for n in numbers[1:]):
        raise ConfigError(
            f"gpx_offset (--gpx-offset) {text!r} is not an offset: give seconds (-3600) or +HH:MM[:SS]"
        )
    hours, minutes, seconds = (*numbers, 0)[:3]
    return sign * (hours * 3600 + minutes * 60 + seconds)
