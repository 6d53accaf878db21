"""``--device``: the device, batch size, precision, weights and decoder chosen, with CUDA present or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from streetwatch.core.settings import get_settings
from streetwatch.pipeline.run import detector_config
from streetwatch.vision.backends.onnx_backend import session_providers
from streetwatch.vision.detector import OnnxConfig, UltralyticsConfig
from streetwatch.vision.device import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    ComputeDevice,
    DeviceError,
    FrameDecoder,
    Probes,
    parse_device,
    plan_device,
)


def probes(*, ort_cuda: bool = False, torch_cuda: bool = False, nvdec: bool = False) -> Probes:
    return Probes(ort_providers=lambda: [CUDA_PROVIDER, CPU_PROVIDER] if ort_cuda else [CPU_PROVIDER],
                  torch_cuda=lambda: torch_cuda, nvdec=lambda: nvdec)


def onnx_model(tmp_path: Path, fp16: bool = False) -> Path:
    model = tmp_path / "det.onnx"
    model.write_bytes(b"model")
    if fp16:
        (tmp_path / "det-fp16.onnx").write_bytes(b"half")
    return model


@pytest.mark.parametrize(("text", "expected"), [
    ("auto", (ComputeDevice.AUTO, 0)), ("cpu", (ComputeDevice.CPU, 0)), ("CUDA", (ComputeDevice.CUDA, 0)),
    ("cuda:1", (ComputeDevice.CUDA, 1)),
    ("gpu", DeviceError), ("cpu:0", DeviceError), ("cuda:x", DeviceError), ("", DeviceError),
])
def test_device_names(text: str, expected: tuple[ComputeDevice, int] | type[Exception]) -> None:
    if isinstance(expected, tuple):
        assert parse_device(text) == expected
    else:
        with pytest.raises(expected, match="unknown device"):
            parse_device(text)


def test_cpu_runs_fp32_batches_of_8_decoded_by_pyav(tmp_path: Path) -> None:
    plan = plan_device("cpu", onnx_model(tmp_path, fp16=True), probes=probes(ort_cuda=True, nvdec=True))
    assert (plan.device, plan.batch_size, plan.half, plan.decoder) == (ComputeDevice.CPU, 8, False, FrameDecoder.PYAV)
    assert plan.weights.name == "det.onnx" and plan.onnx_providers == (CPU_PROVIDER,)


def test_auto_without_cuda_falls_back_to_the_cpu_and_says_why(tmp_path: Path) -> None:
    plan = plan_device("auto", onnx_model(tmp_path), probes=probes(torch_cuda=True))  # torch's CUDA: not ORT's
    assert plan.device is ComputeDevice.CPU and plan.batch_size == 8
    assert "no CUDA execution provider" in plan.reason and "onnxruntime-gpu" in plan.reason


def test_cuda_asked_for_without_cuda_is_an_error_that_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="onnxruntime-gpu"):
        plan_device("cuda", onnx_model(tmp_path), probes=probes())
    with pytest.raises(DeviceError, match="CUDA build of torch"):
        plan_device("cuda:0", tmp_path / "det.pt", runtime="torch", probes=probes(ort_cuda=True))


@pytest.mark.parametrize(("fp16", "nvdec", "weights", "half", "decoder"), [
    (True, True, "det-fp16.onnx", True, FrameDecoder.NVDEC),
    (False, False, "det.onnx", False, FrameDecoder.PYAV),
])
def test_onnx_on_cuda(tmp_path: Path, fp16: bool, nvdec: bool, weights: str, half: bool,
                      decoder: FrameDecoder) -> None:
    plan = plan_device("cuda:1", onnx_model(tmp_path, fp16=fp16), probes=probes(ort_cuda=True, nvdec=nvdec))
    assert (plan.device, plan.device_id, plan.batch_size) == (ComputeDevice.CUDA, 1, 32)
    assert (plan.weights.name, plan.half, plan.decoder) == (weights, half, decoder)
    assert plan.onnx_providers == (CUDA_PROVIDER, CPU_PROVIDER)   # the CPU provider behind it for unsupported ops


def test_torch_on_cuda_runs_half_on_the_named_device(tmp_path: Path) -> None:
    plan = plan_device("auto", tmp_path / "det.pt", runtime="torch", probes=probes(torch_cuda=True))
    assert (plan.torch_device, plan.half, plan.batch_size) == ("cuda:0", True, 32)


@pytest.mark.parametrize(("asked", "cpu", "cuda"), [(None, 8, 32), (4, 4, 4), (48, 48, 48), (200, 200, 64)])
def test_a_batch_size_the_user_set_is_kept_but_capped_at_64_on_cuda(tmp_path: Path, asked: int | None, cpu: int,
                                                                    cuda: int) -> None:
    model = onnx_model(tmp_path)
    assert plan_device("cpu", model, batch_size=asked).batch_size == cpu
    assert plan_device("cuda", model, batch_size=asked, probes=probes(ort_cuda=True)).batch_size == cuda


def test_the_run_builds_its_detector_config_from_the_plan(tmp_path: Path) -> None:
    onnx = detector_config(get_settings(model_path=onnx_model(tmp_path), device="auto"))
    assert isinstance(onnx, OnnxConfig)
    assert session_providers(onnx) == [CPU_PROVIDER] and onnx.batch_size == 8   # no CUDA on this machine
    torch = detector_config(get_settings(model_path=tmp_path / "det.pt", device="cpu", batch_size=3))
    assert isinstance(torch, UltralyticsConfig) and (torch.device, torch.batch_size, torch.half) == ("cpu", 3, False)
    cuda = OnnxConfig(weights=tmp_path / "det.onnx", providers=(CUDA_PROVIDER, CPU_PROVIDER), device_id=2)
    assert session_providers(cuda) == [(CUDA_PROVIDER, {"device_id": 2}), CPU_PROVIDER]


def _ort_has_cuda() -> bool:
    import onnxruntime as ort

    return CUDA_PROVIDER in ort.get_available_providers()


@pytest.mark.skipif(not _ort_has_cuda(), reason="needs onnxruntime-gpu and an NVIDIA GPU")
def test_the_bundled_model_detects_on_cuda() -> None:  # pragma: no cover - no GPU on CI
    import numpy as np

    from streetwatch.datasets.demo import demo_image_path
    from streetwatch.vision.backends.onnx_backend import OnnxDetector

    config = detector_config(get_settings(device="cuda"))
    assert isinstance(config, OnnxConfig) and config.providers[0] == CUDA_PROVIDER and config.batch_size == 32
    import cv2

    image = cv2.imread(str(demo_image_path()))
    assert isinstance(image, np.ndarray)
    found = OnnxDetector(config).detect([image] * 40)
    assert len(found) == 40 and all(len(d) > 0 for d in found)
