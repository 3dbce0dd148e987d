"""Tests for files/support/precision.py: which dtype policy the image stages choose, decided
from stand-ins for the machine (a CUDA GPU, an Apple GPU, a CPU with or without bfloat16)."""

import types

from support import precision

import pytest
import tensorflow as tf


def test_float32_when_asked():
    assert precision.use_mixed_precision(False) == "float32"


def gpus(monkeypatch, *details, built_with_cuda=True):
    """TensorFlow lists one "GPU" per entry of `details` (what get_device_details says)."""
    devices = [types.SimpleNamespace(name=f"/physical_device:GPU:{number}", device_type="GPU")
               for number in range(len(details))]
    by_name = {device.name: detail for device, detail in zip(devices, details, strict=True)}
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: devices if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: by_name[device.name])
    monkeypatch.setattr(tf.test, "is_built_with_cuda", lambda: built_with_cuda)


@pytest.mark.parametrize("bfloat16", [True, False])
def test_a_cuda_gpu_gets_float16(monkeypatch, bfloat16):
    gpus(monkeypatch, {"compute_capability": (8, 9), "device_name": "NVIDIA GeForce RTX 4090"})
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: bfloat16)
    assert precision.cuda_gpu_available()
    assert precision.choose_policy(None) == ("mixed_float16", None)
    assert precision.choose_policy(True) == ("mixed_float16", None)
    assert precision.choose_policy(False) == ("float32", None)


def test_an_apple_gpu_gets_float32(monkeypatch):
    # tensorflow-metal lists the Apple GPU as a "GPU", with no CUDA compute capability, in a
    # TensorFlow built without CUDA; the Mac's CPU has no bfloat16 units Linux reports.
    gpus(monkeypatch, {"device_name": "METAL"}, built_with_cuda=False)
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: False)
    assert not precision.cuda_gpu_available()
    assert precision.choose_policy(None) == ("float32", None)
    policy, note = precision.choose_policy(True)
    assert policy == "float32" and "no CUDA GPU" in note


def test_a_gpu_without_a_compute_capability_is_not_cuda(monkeypatch):
    gpus(monkeypatch, {"device_name": "some plugin's GPU"})
    assert not precision.cuda_gpu_available()


@pytest.mark.parametrize("bfloat16, expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_a_cpu_alone(monkeypatch, bfloat16, expected):
    gpus(monkeypatch)
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: bfloat16)
    assert precision.choose_policy(None) == (expected, None)  # (TensorFlow: on where it pays)


def test_the_chosen_policy_is_set_and_said(monkeypatch, capsys):
    import keras

    monkeypatch.setattr(precision, "cuda_gpu_available", lambda: True)
    assert precision.use_mixed_precision(None) == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    assert capsys.readouterr().out == ("mixed precision: mixed_float16 on tensorflow "
                                       "(--no-mixed-precision for float32)\n")
