"""Where the detector runs: the device, batch size, precision and decoder a ``--device`` asks for.

``--device auto|cpu|cuda[:N]`` is resolved once, before a detector is built, from what this
machine can do (the probes): CUDA is usable for an ONNX model when ONNX Runtime offers its
``CUDAExecutionProvider`` (the ``onnxruntime-gpu`` wheel), and for PyTorch weights when
``torch.cuda.is_available()``. On CUDA the detector runs in fp16 (an ``<name>-fp16.onnx`` beside
the ONNX model when there is one; ``half=True`` for PyTorch) on batches of 32 (the issue's 32-64),
and frames are decoded by NVDEC, through FFmpeg's ``cuda`` hardware decoding in PyAV, when PyAV's
FFmpeg has it (the PyPI wheels do; ``pipeline/frames.py`` falls back to the CPU, and says so, when
the device cannot be opened). On the CPU:
fp32, batches of 8, PyAV. ``cuda`` on a machine without CUDA is an error that says what to install;
``auto`` falls back to the CPU and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal


class ComputeDevice(StrEnum):
    """Where the detector runs (``--device``): ``auto`` picks CUDA when the runtime can use it.

    Here rather than in ``core.vocab``: it is never stored or sent, and vision imports nothing of ours.
    """

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class FrameDecoder(StrEnum):
    """What decodes the footage: PyAV on the CPU, or NVIDIA's NVDEC through PyAV (FFmpeg's ``cuda`` hwaccel)."""

    PYAV = "pyav"
    NVDEC = "nvdec"

CPU_BATCH = 8
CUDA_BATCH = 32
CUDA_MAX_BATCH = 64
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
FP16_SUFFIX = "-fp16"


Runtime = Literal["onnx", "torch"]


class DeviceError(ValueError):
    """A ``--device`` that is not understood, or asks for CUDA this machine cannot give."""


def _ort_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _nvdec() -> bool:
    """Whether PyAV's FFmpeg can decode on an NVIDIA GPU (has the ``cuda`` hardware device type)."""
    from av.codec.hwaccel import hwdevices_available

    return "cuda" in hwdevices_available()


@dataclass(frozen=True, slots=True)
class Probes:
    """What this machine can do, asked lazily (tests pass their own answers)."""

    ort_providers: Callable[[], list[str]] = _ort_providers
    torch_cuda: Callable[[], bool] = _torch_cuda
    nvdec: Callable[[], bool] = _nvdec


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """A resolved ``--device``.

    Attributes:
        device: ``cpu`` or ``cuda`` (never ``auto``).
        torch_device: The device string Ultralytics takes (``cpu``, ``cuda:0``).
        device_id: The CUDA device index (0 on the CPU).
        batch_size: Frames per detector call.
        half: Run in fp16.
        weights: The weights to load (an fp16 ONNX sibling on CUDA when present).
        decoder: What decodes the footage.
        reason: Why this plan, in words (logged, and printed by ``bench``).
    """

    device: ComputeDevice
    torch_device: str
    device_id: int
    batch_size: int
    half: bool
    weights: Path
    decoder: FrameDecoder
    reason: str
    onnx_providers: tuple[str, ...] = field(default=(CPU_PROVIDER,))


def parse_device(requested: str) -> tuple[ComputeDevice, int]:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` -> the kind and the CUDA index."""
    text = requested.strip().lower()
    kind, _, index = text.partition(":")
    try:
        device = ComputeDevice(kind)
    except ValueError:
        raise DeviceError(f"unknown device {requested!r} (known: auto, cpu, cuda, cuda:N)") from None
    if index and (device is not ComputeDevice.CUDA or not index.isdigit()):
        raise DeviceError(f"unknown device {requested!r} (known: auto, cpu, cuda, cuda:N)")
    return device, int(index or 0)


def fp16_sibling(weights: Path) -> Path | None:
    """``model-fp16.onnx`` beside ``model.onnx``, when it exists."""
    if weights.suffix.lower() != ".onnx" or weights.stem.endswith(FP16_SUFFIX):
        return None
    sibling = weights.with_name(f"{weights.stem}{FP16_SUFFIX}{weights.suffix}")
    return sibling if sibling.is_file() else None


def cuda_usable(runtime: Runtime, probes: Probes) -> tuple[bool, str]:
    """Whether the runtime can use CUDA here, and why not."""
    if runtime == "onnx":
        if CUDA_PROVIDER in probes.ort_providers():
            return True, "ONNX Runtime offers the CUDA execution provider"
        return False, ("ONNX Runtime has no CUDA execution provider here "
                       "(install onnxruntime-gpu on a machine with an NVIDIA driver)")
    if probes.torch_cuda():
        return True, "PyTorch sees a CUDA device"
    return False, "PyTorch sees no CUDA device (a CUDA build of torch and an NVIDIA driver are needed)"


def plan_device(requested: str, weights: Path, *, runtime: Runtime = "onnx", batch_size: int | None = None,
                probes: Probes | None = None) -> DevicePlan:
    """Resolve ``requested`` for a model: device, batch size, precision, weights and decoder.

    Args:
        requested: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        weights: The detector weights.
        runtime: What runs them: ``onnx`` (ONNX Runtime) or ``torch`` (Ultralytics on PyTorch).
        batch_size: Frames per detector call if the user set it; None for the device's default
            (8 on the CPU, 32 on CUDA). A CUDA batch is capped at 64.
        probes: What the machine can do (default: ask it).

    Raises:
        DeviceError: An unknown device, or ``cuda`` where CUDA cannot be used.
    """
    probes = probes or Probes()
    kind, index = parse_device(requested)
    if kind is ComputeDevice.CPU:
        return _cpu_plan(weights, batch_size, "asked for the CPU")
    usable, why = cuda_usable(runtime, probes)
    if not usable:
        if kind is ComputeDevice.CUDA:
            raise DeviceError(f"--device {requested}: {why}")
        return _cpu_plan(weights, batch_size, f"auto: {why}; running on the CPU")
    half_weights = fp16_sibling(weights) if runtime == "onnx" else None
    nvdec = probes.nvdec()
    reason = "; ".join([
        f"{why}: CUDA device {index}, fp16",
        f"fp16 weights {half_weights.name}" if half_weights else "PyTorch runs the weights in fp16"
        if runtime == "torch" else "no -fp16.onnx beside the model: fp32 weights",
        "NVDEC decoding (FFmpeg's cuda hwaccel in PyAV)" if nvdec
        else "PyAV decoding on the CPU (this PyAV's FFmpeg has no cuda hardware device type)"])
    return DevicePlan(
        device=ComputeDevice.CUDA, torch_device=f"cuda:{index}", device_id=index,
        batch_size=min(batch_size or CUDA_BATCH, CUDA_MAX_BATCH),
        half=half_weights is not None or runtime == "torch",
        weights=half_weights or weights, decoder=FrameDecoder.NVDEC if nvdec else FrameDecoder.PYAV,
        reason=reason, onnx_providers=(CUDA_PROVIDER, CPU_PROVIDER))


def _cpu_plan(weights: Path, batch_size: int | None, reason: str) -> DevicePlan:
    return DevicePlan(device=ComputeDevice.CPU, torch_device="cpu", device_id=0, batch_size=batch_size or CPU_BATCH,
                      half=False, weights=weights, decoder=FrameDecoder.PYAV, reason=reason)
