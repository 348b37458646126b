"""Picking the training device and what makes each one fast.

``auto`` picks CUDA, then Apple MPS, then the CPU. On the CPU, channels-last
memory speeds up a training step of this kind of small convolutional net
about 1.8x, and the forward pass runs in bfloat16 autocast where the CPU
computes bfloat16 natively (AMX tiles or AVX-512 BF16: ``cpu_computes_bfloat16``);
on CUDA the data stays on the GPU, convolutions use cuDNN autotuning and TF32,
and the forward pass runs in bfloat16 autocast where the GPU supports it.
``amp=False`` (``--no-amp``, ``train.amp: false``) is float32 everywhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch

from playground.core.errors import PlaygroundError
from playground.format.spec import DEVICE_NAMES


class DeviceError(PlaygroundError, RuntimeError):
    """A requested device that this machine does not have."""


@dataclass(frozen=True)
class DeviceSetup:
    device: torch.device
    channels_last: bool
    amp_dtype: torch.dtype | None
    threads: int

    @property
    def test_dtype(self) -> torch.dtype | None:
        """The autocast dtype of the test pass: the training's on CUDA; none (float32)
        on the CPU, where a bfloat16 pass is not faster on every CPU that trains
        faster in it, and float32 scores the weights as they are."""
        return self.amp_dtype if self.device.type == "cuda" else None

    def describe(self) -> str:
        parts = [str(self.device)]
        if self.device.type == "cuda":
            parts.append(torch.cuda.get_device_name(self.device))
        if self.device.type == "cpu":
            parts.append(f"{self.threads} threads")
        parts.append("channels-last" if self.channels_last else "contiguous")
        parts.append(f"autocast {str(self.amp_dtype).removeprefix('torch.')}" if self.amp_dtype else "float32")
        if self.device.type == "cpu" and self.amp_dtype is not None:
            parts[-1] += f" ({cpu_bfloat16_source()}; test pass in float32)"
        return ", ".join(parts)


# The one switch over the detection: "0" as if the CPU had no bfloat16 arithmetic (the test
# suite runs so, whatever its machine), "1" as if it had (it is emulated where it is not: slow).
CPU_BF16_ENV = "PLAYGROUND_CPU_BF16"


_CPU_BF16_FEATURES = (("_is_amx_tile_supported", "AMX"), ("_is_avx512_bf16_supported", "AVX-512 BF16"))


def cpu_bfloat16_instructions() -> list[str]:
    """The instructions for bfloat16 this CPU has, as torch reports them ("AMX",
    "AVX-512 BF16": what oneDNN's bfloat16 convolutions and matrix products run on)."""
    cpu = getattr(torch, "cpu", None)
    return [name for check, name in _CPU_BF16_FEATURES if bool(getattr(cpu, check, lambda: False)())]


def cpu_bfloat16_source() -> str | None:
    """What makes this CPU compute bfloat16 natively (its first such instruction set),
    or None: there bfloat16 autocast is emulated, slower than float32.
    ``PLAYGROUND_CPU_BF16`` overrides the detection."""
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return f"{CPU_BF16_ENV}={forced}" if forced == "1" else None
    return next(iter(cpu_bfloat16_instructions()), None)


def cpu_computes_bfloat16() -> bool:
    return cpu_bfloat16_source() is not None


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def resolve(name: str = "auto", *, amp: bool = True, local_rank: int | None = None) -> DeviceSetup:
    """'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' -> a DeviceSetup, or DeviceError.
    ``local_rank`` (under torchrun): plain 'cuda' means this process's own GPU, cuda:LOCAL_RANK."""
    if not re.fullmatch(DEVICE_NAMES, name):
        raise DeviceError(f"unknown device '{name}'.\n  Use auto, cpu, cuda, cuda:N or mps.")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{name}' was asked for, but CUDA is not available here.\n"
                              "  Use --device auto or --device cpu.")
        device = torch.device(name)
        if local_rank is not None and device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device '{name}' was asked for, but there are only "
                              f"{torch.cuda.device_count()} CUDA devices.")
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else None
        return DeviceSetup(device, True, amp_dtype, torch.get_num_threads())
    if name == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' was asked for, but Apple MPS is not available here.\n"
                              "  Use --device auto or --device cpu.")
        return DeviceSetup(torch.device("mps"), False, None, torch.get_num_threads())
    amp_dtype = torch.bfloat16 if amp and cpu_computes_bfloat16() else None
    return DeviceSetup(torch.device("cpu"), True, amp_dtype, torch.get_num_threads())
