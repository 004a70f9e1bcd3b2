"""Every setting of a scan, worked out once: `resolve_scan(config, model) -> ResolvedScan`.

It is a pure step: it reads the options and the checkpoint, checks every setting, fills in the
defaults (the thresholds stored in the checkpoint, the decode processes, batch and threads for this
machine's device) and opens nothing: no runner, no file, no cluster. The plan, both engines (every
Ray actor included) and the commit receive the frozen result and never work a setting out again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from landmark_tag.errors import ConfigError
from landmark_tag.host.device import check_device_name, resolve_device
from landmark_tag.host.process import default_batch_size, default_threads, default_workers
from landmark_tag.locating.fixes import LocateSettings
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.pipeline.config import ScanConfig, offset_seconds
from landmark_tag.pipeline.inference import InferenceSettings, resolve_inference
from landmark_tag.pipeline.judge import Judge
from landmark_tag.pipeline.target import OutputTarget


@dataclass(frozen=True)
class ResolvedScan:
    inputs: tuple[str, ...]
    output: OutputTarget
    model_name: str
    inference: InferenceSettings  # k, thresholds (the judge), runtime and precision
    engine: str  # local or ray
    # Local engine: the device the model runs on, resolved here. Ray: as asked (`auto`: each actor
    # runs on its own node's GPU where the cluster has GPUs, else on its CPU; see `ray_cluster`).
    device: str
    # Photos per model batch and inference threads: resolved for the local engine; on Ray, None
    # means the default for each actor's device and node (see `batch_for`, `ray_cluster`).
    batch_size: int | None
    threads: int | None
    workers: int  # the local engine's decode processes (0: in the scan's own process)
    commit_rows: int  # photos per shard, the unit of work and of commit
    storage_options: dict[str, Any] | None = field(default=None, hash=False)  # the inputs' fsspec options
    recursive: bool = True
    include_hidden: bool = False
    include_gps: bool = False
    full: bool = False
    prune: bool = False
    force_prune: bool = False
    write_xmp: bool = False
    gpu_decode: bool = False
    max_pixels: int = 0
    ray_address: str | None = None
    actors: int | None = None
    gpx: tuple[str, ...] = ()  # GPS tracks, read by the plan
    locating: LocateSettings = field(default_factory=LocateSettings)  # the location pass's limits

    @property
    def k(self) -> int:
        """The top-k this scan writes: the one source of k for the plan, the engines and the merge."""
        return self.inference.k

    @property
    def judge(self) -> Judge:
        return self.inference.judge

    def batch_for(self, device: torch.device) -> int:
        """Photos per model batch where the model runs on `device`."""
        return self.batch_size or default_batch_size(device)


# Options that `ScanConfig.check` has checked and that need nothing else worked out.
_AS_GIVEN = (
    "commit_rows",
    "storage_options",
    "recursive",
    "include_hidden",
    "include_gps",
    "full",
    "prune",
    "force_prune",
    "write_xmp",
    "gpu_decode",
    "max_pixels",
    "ray_address",
    "actors",
)


def resolve_scan(config: ScanConfig, model: LoadedModel) -> ResolvedScan:
    """`config` checked and completed for `model`; raises ConfigError for what cannot work."""
    config.check()
    local = config.engine == "local"
    if local:
        device = resolve_device(config.device)
        if config.gpu_decode and device.type != "cuda":
            raise ConfigError(
                "gpu_decode (--gpu-decode) needs a CUDA GPU to decode on (and --device auto or cuda)"
            )
        device_name = str(device)
    else:
        check_device_name(config.device)  # whether a GPU exists is the cluster's to say, later
        device, device_name = None, config.device
    inference = resolve_inference(
        model,
        config.k,
        config.min_confidence,
        config.min_landmark_score,
        config.runtime,
        config.precision,
        device,
    )
    return ResolvedScan(
        inputs=tuple(config.inputs),
        output=OutputTarget.at(config.out, config.output_format, config.storage_options),
        model_name=model.name,
        inference=inference,
        engine=config.engine,
        device=device_name,
        batch_size=config.batch_size or (default_batch_size(device) if device is not None else None),
        threads=config.threads or (default_threads(device) if device is not None else None),
        workers=(default_workers() if config.workers is None else config.workers) if local else 0,
        gpx=tuple(config.gpx),
        locating=LocateSettings(
            gpx_offset_s=offset_seconds(config.gpx_offset) if config.gpx_offset is not None else None
        ),
        **{name: getattr(config, name) for name in _AS_GIVEN},
    )
