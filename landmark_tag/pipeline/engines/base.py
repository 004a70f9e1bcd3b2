"""What every engine is: `Engine.run(work, progress) -> ExecutionResult` (chosen by name in
`registry`).

The plan hands an engine the work as `ScanWork` (the shards to tag, in order, and the journal to
commit them to); the engine tags every shard with the same stage code (`tag_shard.ShardTagger`),
wherever it runs them, and reports what it did. The commit then merges what the journal holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from landmark_tag.pipeline.journal import PartJournal
from landmark_tag.pipeline.shards import Shard
from landmark_tag.progress import PhotoProgress


@dataclass
class StageTiming:
    """Where a scan's time went, in seconds: what to look at first when it is slow. With Ray,
    `model` and `writing` are summed over the actors."""

    setup: float = 0.0  # model load, discovery, reading the earlier output
    engine_start: float = 0.0  # starting or joining Ray; 0 for the local engine
    waiting_for_photos: float = 0.0  # model idle: decoding is the bottleneck (local engine)
    model: float = 0.0  # inference and building rows
    writing: float = 0.0  # committing part files
    merging: float = 0.0  # writing the final output (and the sidecars)


@dataclass
class ScanWork:
    """What the plan hands an engine: the shards to tag, in order, and where to commit them."""

    shards: list[Shard]
    journal: PartJournal
    heartbeat: Callable[[], None]  # call after each commit: keeps the output's lock alive


# What ran the model, where none did: landmarks are off (no landmark model, or --no-landmarks).
LANDMARKS_OFF_DEVICE = "none (landmarks off)"


@dataclass
class ExecutionResult:
    counts: Counter[str]  # statuses of the processed photos
    device: str  # where the model ran, e.g. "cpu (openvino int8)"
    ray_address: str | None = None  # the Ray cluster that ran it, for the Ray engine
    timing: StageTiming = field(default_factory=StageTiming)
    reads: Counter[str] = field(default_factory=Counter)  # photos and bytes read (`tag_shard.bytes_read`)
    throttled: int = 0  # the store's answers that asked to slow down (`files.throttling`)


class Engine(Protocol):
    def run(self, work: ScanWork, progress: PhotoProgress) -> ExecutionResult:
        """Tag every shard of `work` and commit each to `work.journal`; committed shards stay
        committed whatever happens after."""
        ...
