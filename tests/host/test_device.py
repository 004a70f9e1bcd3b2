import pytest

from landmark_tag.host import device
from landmark_tag.runtime.cache import cpu_features


def test_a_onednn_cap_below_bf16_means_no_fast_bf16(monkeypatch):
    monkeypatch.setattr(device.torch.cpu, "_is_amx_tile_supported", lambda: True)  # an AMX machine
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert device.onednn_isa_cap() == "AVX2"
    assert not device.cpu_has_fast_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert device.cpu_has_fast_bf16()


@pytest.mark.parametrize("value", ["", "ALL", "default"])
def test_no_cap(monkeypatch, value):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", value)
    assert device.onednn_isa_cap() is None
    assert "max_isa" not in cpu_features()


def test_a_capped_cpu_builds_its_own_int8(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    plain = cpu_features()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpu_features() == f"{plain};max_isa=AVX2"


def test_int8_dot_product_from_the_flags_and_the_cap(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "fma", "avx512f", "avx512_vnni"})
    assert device.cpu_has_fast_int8()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # VNNI there, but oneDNN may not use it
    assert not device.cpu_has_fast_int8()
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "fma"})  # a Zen 3
    assert not device.cpu_has_fast_int8()
