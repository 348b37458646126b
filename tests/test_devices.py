"""Device names: what each one resolves to, and a clear error for the rest."""

from __future__ import annotations

import pytest
import torch

from playground.train import devices
from playground.train.devices import DeviceError


@pytest.fixture
def no_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)


def test_auto_falls_back_to_the_cpu(no_accelerators):
    setup = devices.resolve("auto")
    assert setup.device == torch.device("cpu") and setup.channels_last and setup.amp_dtype is None
    assert setup.threads == torch.get_num_threads()
    assert setup.describe() == f"cpu, {torch.get_num_threads()} threads, channels-last, float32"


@pytest.mark.parametrize("name,message", [
    ("cuda", "device 'cuda' was asked for, but CUDA is not available here.\n  Use --device auto or --device cpu."),
    ("cuda:1", "device 'cuda:1' was asked for, but CUDA is not available here.\n  Use --device auto or --device cpu."),
    ("mps", "device 'mps' was asked for, but Apple MPS is not available here.\n  Use --device auto or --device cpu."),
    ("gpu", "unknown device 'gpu'.\n  Use auto, cpu, cuda, cuda:N or mps."),
    ("CPU", "unknown device 'CPU'.\n  Use auto, cpu, cuda, cuda:N or mps."),
    ("cuda:x", "unknown device 'cuda:x'.\n  Use auto, cpu, cuda, cuda:N or mps."),
])
def test_devices_this_machine_lacks_are_refused_by_name(no_accelerators, name, message):
    with pytest.raises(DeviceError) as info:
        devices.resolve(name)
    assert str(info.value) == message


def test_a_loaded_run_defaults_to_the_cpu(monkeypatch):
    from playground.train import inference

    asked, real = [], devices.resolve
    monkeypatch.setattr(inference.devices, "resolve", lambda name: asked.append(name) or real(name))
    monkeypatch.setattr(inference.runs, "load_checkpoint", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
    with pytest.raises(RuntimeError, match="stop"):
        inference.load_run("anywhere")
    assert asked == ["cpu"]


@pytest.mark.parametrize("found,source", [({"_is_amx_tile_supported": True}, "AMX"),
                                          ({"_is_avx512_bf16_supported": True}, "AVX-512 BF16"),
                                          ({}, None)])
def test_bfloat16_on_the_cpu_follows_what_the_cpu_computes(no_accelerators, monkeypatch, found, source):
    """Detected from the instructions torch reports (not guessed from a model name), unless the switch says."""
    monkeypatch.delenv(devices.CPU_BF16_ENV)
    for check, _ in devices._CPU_BF16_FEATURES:
        monkeypatch.setattr(torch.cpu, check, lambda check=check: found.get(check, False))
    assert devices.cpu_bfloat16_source() == source
    setup = devices.resolve("auto")
    assert setup.amp_dtype == (torch.bfloat16 if source else None)
    assert setup.describe().endswith(f"autocast bfloat16 ({source}; test pass in float32)" if source else "float32")
    assert devices.resolve("cpu", amp=False).amp_dtype is None      # --no-amp, train.amp: false
    assert setup.test_dtype is None                                  # the test pass: float32 on the CPU


@pytest.mark.parametrize("value,expected", [("1", torch.bfloat16), ("0", None)])
def test_one_switch_overrides_the_detection(no_accelerators, monkeypatch, value, expected):
    for check, _ in devices._CPU_BF16_FEATURES:
        monkeypatch.setattr(torch.cpu, check, lambda: value == "0")   # the opposite of the switch
    monkeypatch.setenv(devices.CPU_BF16_ENV, value)
    assert devices.resolve("cpu").amp_dtype is expected
