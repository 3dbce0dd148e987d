"""Mixed precision where it pays: float16 on a CUDA GPU, bfloat16 on a CPU with bfloat16 units.

Not in the book: its Keras 2 runs trained in float32. Chapter 5's stages call
`use_mixed_precision(args.mixed_precision)` first; `unwrapped` takes off the loss-scaling
wrapper Keras puts around an optimizer in mixed_float16.
"""

from pathlib import Path

from support import console

import keras
import tensorflow as tf

# Where bfloat16 on a CPU pays (faster than float32 for the scratch stage, same accuracy):
# mixed precision is on by default there (files/README.md, Choosing a backend). On JAX and
# PyTorch it does not pay: both stay float32 unless --mixed-precision.
BFLOAT16_PAYS_ON_CPU = {"tensorflow": True, "jax": False, "torch": False}


def use_mixed_precision(choice):
    """Set Keras's dtype policy for --mixed-precision (True), --no-mixed-precision (False)
    or neither (None: on where it pays). Returns the policy name in use."""
    policy, note = choose_policy(choice)
    if note:
        console.say(note)
    if policy != "float32":
        keras.mixed_precision.set_global_policy(policy)
        print(f"mixed precision: {policy} on {keras.backend.backend()} "
              f"(--no-mixed-precision for float32)")
    return policy


def choose_policy(choice):
    """The policy use_mixed_precision(choice) sets, and the note it prints (or None), without
    setting it: `reproduce.py --describe-setup` says what the image stages would use.

    Mixed precision computes in 16-bit floats and keeps the weights in float32: float16 on a
    CUDA GPU, bfloat16 on a CPU with bfloat16 units (AMX / AVX512-BF16). With TensorFlow on
    such a CPU the scratch stage ran about 2x faster per epoch and reached the same accuracy
    (72.1% vs 71.0% test), so it is on by default there; elsewhere the default is float32.
    """
    if choice is False:
        return "float32", None
    if cuda_gpu_available():
        return "mixed_float16", None  # tensor cores on CUDA GPUs
    if cpu_has_bfloat16() and (choice or BFLOAT16_PAYS_ON_CPU[keras.backend.backend()]):
        return "mixed_bfloat16", None
    note = ("note: --mixed-precision ignored: no CUDA GPU and no bfloat16 support on this CPU"
            if choice else None)
    return "float32", note


def cuda_gpu_available():
    """Whether the backend Keras runs on sees a CUDA GPU (each backend has its own check).

    Only CUDA GPUs: an Apple GPU (tensorflow-metal) is listed as a "GPU" too, but it has no
    CUDA compute capability. It gets float32, the book's precision: float16 there would run
    through Apple's plugin, on a path no run of this project has checked, where a wrong
    result would look like an unlucky seed. JAX's Metal plugin is platform "METAL" and
    PyTorch's Apple GPU is "mps": neither counts as CUDA either."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return bool(tensorflow_cuda_gpus())


def tensorflow_cuda_gpus():
    """The GPUs TensorFlow lists that are CUDA GPUs: a CUDA build of TensorFlow and a device
    with a compute capability ((8, 0) for an A100)."""
    if not tf.test.is_built_with_cuda():
        return []
    return [device for device in tf.config.list_physical_devices("GPU")
            if tf.config.experimental.get_device_details(device).get("compute_capability")]


def cpu_has_bfloat16():
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: assume no
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def unwrapped(optimizer):
    """The optimizer itself, without the loss-scaling wrapper of mixed_float16."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer
