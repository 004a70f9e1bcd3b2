"""Every setting of a scan, worked out once: `resolve_scan(config, model) -> ResolvedScan`.

It is a pure step: it reads the options and the checkpoint, checks every setting, fills in the
defaults (the thresholds stored in the checkpoint, the decode processes, batch and threads for this
machine's device) and opens nothing: no runner, no file, no cluster. The plan, both engines (every
Ray actor included) and the commit receive the frozen result and never work a setting out again.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field

import torch

from landmark_tag.errors import ConfigError
from landmark_tag.host.device import resolve_device
from landmark_tag.host.names import check_device_name
from landmark_tag.host.process import default_batch_size, default_threads, default_workers
from landmark_tag.locating.fixes import LocateSettings
from landmark_tag.locating.named_places import read_named_places
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.pipeline.config import ScanConfig, offset_seconds
from landmark_tag.pipeline.inference import InferenceSettings, resolve_inference
from landmark_tag.pipeline.judge import Judge
from landmark_tag.pipeline.target import OutputTarget


@dataclass(frozen=True)
class ResolvedScan:
    # The options as given, a copy: those that need nothing worked out are read from here, so a new
    # option is declared once, in ScanConfig. Those worked out below are read from their own fields.
    given: ScanConfig = field(hash=False)
    output: OutputTarget
    model_name: str  # "" without a landmark model
    inference: InferenceSettings | None  # k, thresholds (the judge), runtime, precision; None: no model
    # Local engine: the device the model runs on, resolved here. Ray: as asked (`auto`: each actor
    # runs on its own node's GPU where the cluster has GPUs, else on its CPU; see `ray_cluster`).
    device: str
    # Photos per model batch and inference threads: resolved for the local engine; on Ray, None
    # means the default for each actor's device and node (see `batch_for`, `ray_cluster`).
    batch_size: int | None
    threads: int | None
    workers: int  # the local engine's decode processes (0: in the scan's own process)
    # The local engine's model may take a core the decode workers leave idle while it holds the
    # scan back (`OpenVINORunner.use_spare_core`): on a CPU, with the default threads and workers.
    spare_core: bool = False
    locating: LocateSettings = field(default_factory=LocateSettings)  # the location pass's limits

    @property
    def k(self) -> int:
        """The top-k this scan writes: the one source of k for the plan, the engines and the merge
        (without a model, the columns stay empty)."""
        return self.inference.k if self.inference is not None else self.given.k

    @property
    def judge(self) -> Judge | None:
        """The thresholds in force; None without a landmark model."""
        return self.inference.judge if self.inference is not None else None

    def batch_for(self, device: torch.device) -> int:
        """Photos per model batch where the model runs on `device`."""
        return self.batch_size or default_batch_size(device)


def resolve_scan(config: ScanConfig, model: LoadedModel | None) -> ResolvedScan:
    """`config` checked and completed for `model` (None: no landmark model, so landmarks are off);
    raises ConfigError for what cannot work."""
    config.check()
    if model is None:
        for_the_model = {
            "--min-confidence": config.min_confidence is not None,
            "--min-landmark-score": config.min_landmark_score is not None,
            "--gpu-decode": config.gpu_decode,
        }
        if given := [flag for flag, on in for_the_model.items() if on]:
            raise ConfigError(
                f"{', '.join(given)} apply to a landmark model, and landmarks are off (no model, or "
                "--no-landmarks): give --model FILE, or leave them out"
            )
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
    inference = None
    if model is not None:
        inference = resolve_inference(
            model,
            config.k,
            config.min_confidence,
            config.min_landmark_score,
            config.runtime,
            config.precision,
            device,
        )
    threads = config.threads or (default_threads(device) if device is not None else None)
    workers = (default_workers() if config.workers is None else config.workers) if local else 0
    # Only where threads and workers are the defaults: both leave the cores to each other, and a
    # --threads given is a limit the user chose.
    spare_core = (
        device is not None
        and device.type == "cpu"
        and config.threads is None
        and config.workers is None
        and threads is not None
        and threads < (os.cpu_count() or 1)
    )
    return ResolvedScan(
        given=copy.deepcopy(config),
        output=OutputTarget.at(config.out, config.output_format, config.storage_options),
        model_name=model.name if model is not None else "",
        inference=inference,
        device=device_name,
        batch_size=config.batch_size or (default_batch_size(device) if device is not None else None),
        threads=threads,
        workers=workers,
        spare_core=spare_core,
        locating=LocateSettings(
            gpx_offset_s=offset_seconds(config.gpx_offset) if config.gpx_offset is not None else None,
            locate_screenshots=config.locate_screenshots,
            named_places=read_named_places(config.places) if config.places is not None else None,
        ),
    )
