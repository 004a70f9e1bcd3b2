"""What a scan is asked to do: `ScanConfig`, the options as given (the CLI's, or the Python API's).

`check` refuses what cannot work without looking at the model; `resolve.resolve_scan` then works
every setting out once, with the model, into the frozen `ResolvedScan` that the scan's steps read.
"""

from __future__ import annotations

import math
import os
from dataclasses import MISSING, dataclass

from landmark_tag.errors import ConfigError
from landmark_tag.files.images import DEFAULT_MAX_PIXELS
from landmark_tag.files.results import FORMATS, output_format
from landmark_tag.files.storage import is_local_folder
from landmark_tag.host.names import PRECISION_HELP, PRECISIONS, RUNTIME_HELP, RUNTIMES, check_device_name
from landmark_tag.options import option
from landmark_tag.pipeline.shards import DEFAULT_COMMIT_ROWS

ENGINES = ("local", "ray")


# Each option is declared here once, with how the command line offers it (`options.option`): the
# field is the Python API's, `landmark-tag scan` builds its parameters from these, and `resolve_scan`
# hands the stages a copy (`ResolvedScan.given`) beside the settings it works out.
@dataclass
class ScanConfig:
    inputs: list[str] = option(help="Photo files or folders to scan (local, or fsspec URLs).", metavar="PATH")
    out: str = option(
        MISSING, "--out", "-o", help="Output file: .parquet or .csv.", cli_default="tags.parquet"
    )
    k: int = option(3, "--k", "-k", minimum=1, help="How many landmarks to keep per photo.")
    model: str | None = option(  # None: the default location `train` writes to, if there is one
        None,
        "--model",
        "-m",
        help="Landmark model (checkpoint) to use. Default: the one `landmark-tag train` writes, if it "
        "is there; without one, photos are located by GPS, tracks and time only.",
    )
    landmarks: bool = option(
        True,
        "--landmarks/--no-landmarks",
        help="Look for landmarks in the photos without a location (needs a model). --no-landmarks "
        "locates by GPS, tracks and time only, reading no pixels: much faster.",
    )
    output_format: str | None = option(
        None, "--format", choices=FORMATS, help="parquet or csv. Default: from the --out suffix."
    )
    min_confidence: float | None = option(  # None: the threshold stored in the checkpoint
        None,
        "--min-confidence",
        minimum=0.0,
        maximum=1.0,
        help="Photos whose top-1 probability is below this are marked uncertain and get no location. "
        "Default: the threshold stored in the model (0 accepts everything).",
    )
    min_landmark_score: float | None = option(  # None: the threshold stored in the checkpoint
        None,
        "--min-landmark-score",
        minimum=-1.0,
        maximum=1.0,
        help="Photos whose landmark score is below this show no landmark the model knows: they are "
        "marked no_landmark and get no location. Default: the threshold stored in the model.",
    )
    gpx: tuple[str, ...] = option(
        (),
        "--gpx",
        help="A GPS track (.gpx) or a folder of them, to locate photos by; repeat for more. Its clock "
        "is aligned with each camera's on that camera's photos with GPS.",
    )
    gpx_offset: str | None = option(  # added to camera clocks to get the tracks' ("+01:00", "-3600")
        None,
        "--gpx-offset",
        check=lambda text: offset_seconds(text),
        help="Add this to every camera clock to get the tracks' time, instead of aligning them: "
        "+HH:MM[:SS] or seconds (as exiftool's -geosync).",
    )
    locate_screenshots: bool = option(
        False,
        "--locate-screenshots",
        help="Place screenshots (no camera in their EXIF; a PNG or a screenshot's name) by time and "
        "tracks too: their time says where the phone was, not what they show.",
    )
    places: str | None = option(
        None,
        "--places",
        help="Name your own places: a CSV (name, latitude, longitude, radius_m) or a GeoJSON of "
        "points with radius_m, and polygons, each with a name. A located photo inside one gets its "
        "name (the smallest, where they overlap).",
    )
    copies: bool = option(
        True,
        "--copies/--no-copies",
        help="Find copies (resized, recompressed, cut by up to 10%, EXIF stripped) of located photos "
        "in the output, and give each its original's location and time. Takes each photo's picture "
        "hashes, which costs a small decode of every photo with GPS.",
    )
    write_xmp: bool = option(
        False,
        "--write-xmp",
        help="Write an XMP sidecar (IMG.jpg.xmp) with the landmark keyword and location beside each "
        "tagged photo. Photos are never modified; existing sidecars are merged.",
    )
    include_gps: bool = option(
        False, "--include-gps", help="Also tag photos whose EXIF GPS already says where they were taken."
    )
    recursive: bool = option(True, "--recursive/--no-recursive", help="Walk into sub-folders.")
    include_hidden: bool = option(False, "--include-hidden", help="Scan files and folders named '.*'.")
    batch_size: int | None = option(  # None: default_batch_size() for the device
        None, "--batch-size", minimum=1, help="Photos per model batch. Default: 8 on a CPU, 64 on a GPU."
    )
    workers: int | None = option(  # None: default_workers(); 0: decode in the scan's own process
        None, "--workers", minimum=0, help="Decode processes. Default: one per CPU core (at most 8)."
    )
    threads: int | None = option(  # per Ray actor with the Ray engine; None: default_threads()
        None, "--threads", minimum=1, help="Inference threads. Default: half the CPU cores on a CPU."
    )
    device: str = option("auto", "--device", check=check_device_name, help="auto, cpu or cuda.")
    gpu_decode: bool = option(
        False,
        "--gpu-decode",
        help="Decode JPEGs of 1 MB and more on the GPU (nvJPEG) instead of on the CPU cores. Needs CUDA.",
    )
    precision: str = option("auto", "--precision", choices=PRECISIONS, help=PRECISION_HELP)
    runtime: str = option("auto", "--runtime", choices=RUNTIMES, help=RUNTIME_HELP)
    max_pixels: int = option(
        DEFAULT_MAX_PIXELS,
        "--max-pixels",
        minimum=1,
        help="A photo that would decode to more pixels fails (JPEGs count after their reduced-scale "
        "decode). Bounds each decode worker's memory.",
    )
    engine: str = option(
        "local",
        "--engine",
        choices=ENGINES,
        help="local: decode processes and the model on this machine. ray: the same scan on Ray Data, "
        "on a local Ray instance or a cluster (pip install 'landmark-tag[ray]').",
    )
    ray_address: str | None = option(
        None,
        "--ray-address",
        help="With --engine ray: the cluster to join ('auto', or ray://HOST:10001). Default: start a "
        "local Ray instance for this scan.",
    )
    actors: int | None = option(
        None,
        "--actors",
        minimum=1,
        help="With --engine ray: model actors (one model each). Default: one per GPU, or one per node "
        "on a cluster without GPUs. --threads and --batch-size apply per actor.",
    )
    commit_rows: int = option(  # photos per shard: the unit of work and of commit
        DEFAULT_COMMIT_ROWS,
        "--commit-every",
        minimum=1,
        help="Photos per crash-safe commit: a crash redoes at most this many; more means fewer part "
        "files (objects in a bucket) during the run. With --engine ray, the photos per Ray task.",
    )
    full: bool = option(False, "--full", help="Ignore the existing output and tag every photo again.")
    prune: bool = option(
        False,
        "--prune",
        help="Drop rows of photos that are no longer in the tree. Refused when no photos are found, or "
        "when more than half of the rows would go, unless --force-prune.",
    )
    force_prune: bool = option(
        False,
        "--force-prune",
        help="With --prune: drop the rows even when the tree is empty or most of its photos are gone.",
    )
    # fsspec options for URLs, e.g. {"endpoint_url": ...}; the command line's --storage-option and
    # --endpoint-url make it.
    storage_options: dict | None = None

    def check(self) -> None:
        """Refuse options that cannot work, or that would be silently ignored, before anything
        (the model included) is loaded."""
        self._check_engine_options()
        if self.model is not None and not self.landmarks:
            raise ConfigError("a model (--model) was given, but landmarks are off (--no-landmarks)")
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
        if is_local_folder(self.out):
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
