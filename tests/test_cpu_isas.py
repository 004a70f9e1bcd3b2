"""The tests whose results depend on the CPU's instruction set, run again under the instruction sets
of other CPUs, which oneDNN (OpenVINO's and PyTorch's CPU kernels) and PyTorch emulate by capping what
they use. A suite that passed only on the CPU it was written on once hid a model that `train` wrote and
no scan on an AVX2 CPU could use."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (oneDNN's cap, PyTorch's cap): AVX2 only (most CPUs); AVX-512 with VNNI and BF16 but no AMX
# (AMD Zen 4 and 5, Intel Cooper Lake); AVX-512 with VNNI, without bf16 (Intel Cascade Lake).
# With the /proc/cpuinfo flags each one needs: a cap can only take instructions away.
EMULATED = [
    pytest.param("AVX2", "avx2", {"avx2"}, id="AVX2"),
    pytest.param(
        "AVX512_CORE_BF16",
        "avx512",
        {"avx512f", "avx512bw", "avx512vl", "avx512_bf16"},
        id="AVX512_CORE_BF16",
        marks=pytest.mark.slow,  # 17 s: the default suite keeps AVX2, the most common; --all runs all
    ),
    pytest.param(
        "AVX512_CORE_VNNI",
        "avx512",
        {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"},
        id="AVX512_CORE_VNNI",
        marks=pytest.mark.slow,
    ),
]


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next(
        (set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set()
    )


@pytest.mark.parametrize(("onednn", "aten", "needs"), EMULATED)
def test_cpu_dependent_tests_pass_under_other_instruction_sets(onednn, aten, needs, tmp_path):
    flags = cpu_flags()
    if not needs <= flags:
        pytest.skip(f"this CPU lacks {', '.join(sorted(needs - flags))}: {onednn} cannot be emulated here")
    if onednn == "AVX2" and not any(flag.startswith("avx512") for flag in flags):
        pytest.skip("this CPU is AVX2 at most: the cpu_isa tests already ran natively under AVX2")
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": onednn, "ATEN_CPU_CAPABILITY": aten}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cpu_isa"]
    result = subprocess.run(
        [*command, "--basetemp", str(tmp_path), "tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
