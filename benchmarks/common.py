"""What the benchmarks share: photo sets and models made on the spot, runs in fresh processes, and
the memory of a process tree. Nothing here is timed; the scripts time what they measure."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, TiffImagePlugin

ROOT = Path(__file__).resolve().parent.parent  # the repository: `benchmarks` imports from here

# ---------------------------------------------------------------- photo sets

_NOISE: dict[tuple[int, int], np.ndarray] = {}


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour regions, fine texture and sensor-like noise: compresses like a real photo."""
    rng = np.random.default_rng(seed)
    colours = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
    array = np.asarray(colours.resize((width, height), Image.BICUBIC), dtype=np.float32)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = 10 * np.sin(x / rng.uniform(3, 9)) * np.cos(y / rng.uniform(3, 9))
    if (width, height) not in _NOISE:  # one noise field per size, shifted per photo: much faster to make
        _NOISE[width, height] = np.random.default_rng(0).normal(0, 10, (height, width, 3)).astype(np.float32)
    noise = np.roll(_NOISE[width, height], (int(rng.integers(height)), int(rng.integers(width))), axis=(0, 1))
    array += texture[..., None] + noise
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def gps_exif(seed: int) -> bytes:
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLongitudeRef] = "N", "E"
    gps[ExifTags.GPS.GPSLatitude] = (TiffImagePlugin.IFDRational(10 + seed % 70, 1), 0.0, 0.0)
    gps[ExifTags.GPS.GPSLongitude] = (TiffImagePlugin.IFDRational(20 + seed % 150, 1), 0.0, 0.0)
    return exif.tobytes()


def make_set(folder: Path, count: int, size: tuple[int, int], gps_share: float = 0.0) -> list[Path]:
    """`count` camera-like JPEGs of `size`, the first `gps_share` of them with EXIF GPS."""
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / f"IMG_{i:05d}.jpg"
        kwargs = {"exif": gps_exif(i)} if i < round(count * gps_share) else {}
        photo_like(*size, seed=i).save(path, quality=90, **kwargs)
        paths.append(path)
    return paths


def make_tree(root: Path, count: int) -> None:
    """`count` tiny random JPEGs in folders of 1,000: a large tree quickly, for memory and listing."""
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        array = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"{i:06d}.jpg", quality=80)


# ---------------------------------------------------------------- models


def benchmark_checkpoints(folder: Path, bank_photos: int) -> tuple[Path, Path, float]:
    """The default checkpoint format for EfficientNet-Lite0 with a random 50-class head, with a
    landmark score whose bank holds `bank_photos` random features, and without one. Returns both
    paths and the bank's size in MB. Speed does not depend on the weights' values."""
    import timm
    import torch

    from landmark_tag.model.checkpoint import ModelSpec, save_checkpoint
    from landmark_tag.model.openset import LandmarkScorer, build_bank
    from landmark_tag.model.preprocessing import Preprocessing
    from landmark_tag.training.backbones import LITE_MEAN, LITE_STD

    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", num_classes=50)
    preprocessing = Preprocessing(224, 256, LITE_MEAN, LITE_STD, "bicubic")
    classes = [f"{i:02d}.Place_{i}" for i in range(50)]
    spec = ModelSpec("timm/tf_efficientnet_lite0", classes, {}, preprocessing)
    without_score = folder / "model-without-score.pt"
    save_checkpoint(without_score, spec, model.state_dict())
    bank = build_bank(torch.randn(bank_photos, model.num_features), torch.zeros(0))
    spec.landmark_scorer = LandmarkScorer(bank)
    checkpoint = folder / "model.pt"
    save_checkpoint(checkpoint, spec, model.state_dict())
    return checkpoint, without_score, spec.landmark_scorer.bank.numel() * 2 / 1e6


def tiny_checkpoint(path: Path) -> Path:
    """A tiny random CNN for 64-pixel inputs: for what does not depend on the model (memory, listing)."""
    import torch

    from landmark_tag.model.checkpoint import ModelSpec, save_checkpoint
    from landmark_tag.model.preprocessing import Preprocessing

    torch.manual_seed(0)
    spec = ModelSpec(
        "landmark_cnn",
        [f"{i:02d}.Place_{i}" for i in range(50)],
        {"width": 8, "stages": 3},
        Preprocessing(input_size=64, resize_size=72),
    )
    save_checkpoint(path, spec, spec.build().state_dict())
    return path


# ---------------------------------------------------------------- processes and memory


@contextlib.contextmanager
def beside_cpu_bound_work(busy: bool) -> Iterator[None]:
    """With `busy`, a CPU-bound process per core runs until the block ends: a shared machine."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range((os.cpu_count() or 1) if busy else 0)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()


def peak_memory_mb() -> dict[str, float]:
    """This process's peak resident memory and its waited-for children's (decode workers'): call
    it last in a fresh process (ru_maxrss of a process started by fork and exec is inherited)."""
    return {
        "main_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def resident_mb() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def run_fresh(code_or_module: list[str], *args: str, env: dict[str, str] | None = None) -> dict:
    """Run `python -c CODE` or `python -m MODULE` (`code_or_module`, e.g. ["-m", name]) in a fresh
    process with `args`, from the repository, and return the JSON its last line prints."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, *code_or_module, *args], capture_output=True, text=True, cwd=ROOT, env=environment
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(code_or_module[:1])} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def tree_memory_bytes(root_pid: int) -> int:
    """Memory of a process and all its descendants, from /proc: the sum of their PSS, which counts
    pages shared between the scan and its forked workers once, not once per process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def median_run(runs: list[dict], key: str = "photos_per_s") -> dict:
    """The run with the median `key` (a whole run, so its timing and memory stay together)."""
    return sorted(runs, key=lambda run: run[key])[len(runs) // 2]


def scan_summary(command: list[str], summary: Path, env: dict[str, str] | None = None) -> dict:
    """Run a scan command line that writes `--summary-json summary`, and return the summary."""
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"scan failed: {done.stderr[-2000:]}")
    return json.loads(summary.read_text())


def rate_from_first_batch(summary: dict) -> float:
    """Photos per second from the first batch to the output written, as the ceilings are measured
    (warm): the summary's processed photos over its time less the set-up."""
    return summary["processed"] / (summary["elapsed_seconds"] - summary["timing"]["setup"])


def start_local_s3():
    """moto's S3 server on this machine, for this process and its children (AWS_* variables);
    returned, to be stopped."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return server
