"""The malloc tuning for CPU inference: a forward pass stops faulting its activations back in."""

import platform
import subprocess
import sys

import pytest

from landmark_tag.host.allocator import keep_freed_memory

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the tuning is for glibc's malloc (Linux)"
)

# Page faults per forward pass, after warm-up: each one is a page the kernel had to hand out again.
# The median of five passes: one pass on a busy machine can fault in a few thousand pages for
# reasons of its own (once 4,125 against a usual 0), which says nothing about the tuning.
FAULTS_PER_PASS = """
import resource, statistics, sys
import timm, torch
from landmark_tag.host.allocator import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
model = timm.create_model("tf_efficientnet_lite0", num_classes=5).eval()
pixels = torch.randn(8, 3, 224, 224)
faults = []
with torch.inference_mode():
    for _ in range(2):
        model(pixels)
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        model(pixels)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(statistics.median(faults))
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
