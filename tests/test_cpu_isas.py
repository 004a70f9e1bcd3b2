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
EMULATED = [
    pytest.param("AVX2", "avx2", id="AVX2"),
    pytest.param("AVX512_CORE_BF16", "avx512", id="AVX512_CORE_BF16"),
    pytest.param("AVX512_CORE_VNNI", "avx512", id="AVX512_CORE_VNNI", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("onednn", "aten"), EMULATED)
def test_cpu_dependent_tests_pass_under_other_instruction_sets(onednn, aten, tmp_path):
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
