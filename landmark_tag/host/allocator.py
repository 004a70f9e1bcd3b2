"""Keep the model's freed activations for reuse, instead of handing them back to the kernel.

Each forward pass on a CPU allocates and frees activations of several MB. glibc's malloc serves
blocks over its mmap threshold (128 KiB at first, and raised only as such blocks are freed) with a
fresh mmap, and returns them with munmap; it also trims its heap as soon as 128 KiB is free at the
top. Either way every batch faults its activations back in, page by page, zeroed by the kernel.
With the settings below those faults are gone and PyTorch runs the model 1.5 to 2.5 times as fast,
at the same peak memory, since what is kept is what the next batch needs
(`python -m benchmarks.perf.model_speed` measures it).
"""

from __future__ import annotations

import ctypes
import logging
import sys

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size stay in the heap: a batch of 8 at 224 px in fp32 (16 in bf16) needs 64 MiB.
# Older glibc may refuse more than 32 MiB, which covers a bf16 batch of 8.
MMAP_THRESHOLDS_BYTES = (64 << 20, 32 << 20)
# Free memory the heap may keep at its top; 64 MiB measured too small for batch 8 (no gain).
TRIM_THRESHOLD_BYTES = 512 << 20


def keep_freed_memory() -> bool:
    """Raise glibc malloc's mmap and trim thresholds for this process (and the decode workers it
    forks later). Returns whether the settings took effect: False where the C library is not
    glibc (macOS, Windows, musl), which have their own allocators and are left alone.

    The settings are process-wide and stay: `process.prepare_inference_process` applies them where
    a process runs the model (a local scan's own process, each Ray actor, the `predict` command), and
    a program that calls `scan` keeps them afterwards, which costs it at most the memory its largest
    batch needed. `predict_landmarks()` leaves them alone; call `prepare_inference_process` to opt in."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it, and only glibc's mallopt has these
        applied = any(libc.mallopt(_M_MMAP_THRESHOLD, size) == 1 for size in MMAP_THRESHOLDS_BYTES)
        applied = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and applied
    except (OSError, AttributeError):
        return False
    logger.debug("malloc keeps freed memory for reuse: %s", applied)
    return applied
