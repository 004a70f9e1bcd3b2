"""What a scan is asked to do (`ScanConfig`), and what its engines exchange with it.

A scan is planned and committed on one machine (`scan`), and executed by an engine: `local` (a
DataLoader on this machine, `local_executor`) or `ray` (Ray Data over a cluster, `ray_executor`).
An engine takes the photos to process as `ScanWork` and returns an `ExecutionResult`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from landmark_tag.errors import ConfigError
from landmark_tag.images import DEFAULT_MAX_PIXELS
from landmark_tag.pipeline.discover import PhotoFile
from landmark_tag.pipeline.incremental import DEFAULT_COMMIT_ROWS, PartJournal
from landmark_tag.pipeline.sidecar import SidecarStats

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
    commit_rows: int = DEFAULT_COMMIT_ROWS  # rows per crash-safe part file (a Ray shard)
    write_xmp: bool = False  # write an XMP sidecar beside each tagged photo
    gpu_decode: bool = False  # decode large JPEGs on the GPU (nvJPEG); needs a CUDA device
    max_pixels: int = DEFAULT_MAX_PIXELS  # most pixels a photo may decode to; larger ones fail
    engine: str = "local"  # local, or ray (pip install 'landmark-tag[ray]')
    ray_address: str | None = None  # None: start a local Ray; "auto" or "ray://HOST:10001": join one
    actors: int | None = None  # Ray model actors; None: one per GPU, or one per node without GPUs

    def check_engine_options(self) -> None:
        """Refuse options that the chosen engine would otherwise silently ignore."""
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


@dataclass
class StageTiming:
    """Where a scan's time went, in seconds: what to look at first when it is slow. With Ray,
    `model` and `writing` are summed over the actors."""

    setup: float = 0.0  # model load, discovery, reading the earlier output
    engine_start: float = 0.0  # starting or joining Ray; 0 for the local engine
    waiting_for_photos: float = 0.0  # model idle: decoding is the bottleneck (local engine)
    model: float = 0.0  # inference and building rows
    writing: float = 0.0  # committing part files (and writing sidecars)
    merging: float = 0.0  # writing the final output


@dataclass
class ScanWork:
    """What the plan hands an engine: the photos to process, in order, and where to commit rows."""

    photos: list[PhotoFile]
    journal: PartJournal
    heartbeat: Callable[[], None]  # call after each commit: keeps the output's lock alive


@dataclass
class ExecutionResult:
    counts: Counter[str]  # statuses of the processed photos
    device: str  # where the model ran, e.g. "cpu (bf16)"
    sidecars: SidecarStats | None = None
    ray_address: str | None = None  # the Ray cluster that ran it, for the Ray engine
    timing: StageTiming = field(default_factory=StageTiming)
