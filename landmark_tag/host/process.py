"""How many processes and threads a scan uses, and the process-wide settings of a process that runs
the model.

The settings are explicit steps, never side effects of building a model: `prepare_inference_process`
is called by the scan for its own process (the local engine) and by each Ray model actor, and by
the `predict` command. A plain `predict_landmarks()` call leaves its caller's process alone.
"""

from __future__ import annotations

import os

import torch

from landmark_tag.host.allocator import keep_freed_memory


def default_workers() -> int:
    """Decode workers: one per core (inference runs in the main process alongside)."""
    return max(1, min(os.cpu_count() or 1, 8))


def default_threads(device: torch.device, cores: int | None = None) -> int:
    """Inference threads on a CPU: half the cores, leaving the rest to the decode workers. On 2
    cores one inference thread scans as fast as two, on camera and web photos alike
    (`benchmarks/perf/scan_throughput.py --scan-args '--threads 2'`), so the second core is better left
    to decoding; while the model holds the scan back, it takes a spare core the waiting workers
    leave idle (`ResolvedScan.spare_core`). On a GPU the CPU threads only feed it, and torch's
    default stays. `cores`: of the machine the model runs on (default: this one)."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // 2) if device.type == "cpu" else torch.get_num_threads()


def default_batch_size(device: torch.device) -> int:
    """Photos per batch. On a CPU, 8: it scans as fast as 16 (`benchmarks/perf/scan_throughput.py
    --scan-args '--batch-size 16'`) with less memory, and each decode worker fills a whole batch
    alone, so a small batch starts the model sooner and feeds it more evenly. A GPU wants large
    batches to be efficient."""
    return 64 if device.type == "cuda" else 8


def prepare_inference_process(device: torch.device, threads: int | None = None) -> int:
    """Set up this process to run the model: its inference threads (None: torch's choice) and,
    on a CPU, malloc settings that keep the model's freed activations for the next batch
    (`benchmarks/perf/model_speed.py`). Both are process-wide. Returns the thread count before, to put
    back."""
    if device.type == "cpu":
        keep_freed_memory()
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    return before
