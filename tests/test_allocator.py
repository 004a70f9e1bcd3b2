"""The malloc tuning for CPU inference: a forward pass stops faulting its activations back in."""

import platform
import subprocess
import sys

import pytest

from landmark_tag.allocator import keep_freed_memory

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the tuning is for glibc's malloc (Linux)"
)

# Page faults per forward pass, after warm-up: each one is a page the kernel had to hand out again.
FAULTS_PER_PASS = """
import resource, sys
import timm, torch
from landmark_tag.allocator import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
model = timm.create_model("tf_efficientnet_lite0", num_classes=5).eval()
pixels = torch.randn(8, 3, 224, 224)
with torch.inference_mode():
    for _ in range(2):
        model(pixels)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        model(pixels)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3)
"""


def faults_per_pass(mode: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS_PER_PASS, mode], capture_output=True, text=True, check=True
    )
    return float(done.stdout.split()[-1])


@glibc_only
@pytest.mark.slow
def test_forward_passes_reuse_memory_instead_of_faulting_it_in():
    default, tuned = faults_per_pass("default"), faults_per_pass("tuned")
    assert default > 1000  # glibc's defaults: tens of thousands of pages per batch of 8
    assert tuned < default / 20


@glibc_only
def test_keep_freed_memory_is_repeatable():
    assert keep_freed_memory()
    assert keep_freed_memory()
