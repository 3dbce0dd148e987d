"""A reader's setup, for a bug report: `python files/reproduce.py --describe-setup`.

The machine as a run record describes it (run_records.describe_machine: CPU and its features,
cores, the GPUs nvidia-smi lists, OS, Python, TensorFlow, Keras), and what else a bug report
needs: JAX's and PyTorch's versions, the Keras backend and where it was set, the GPUs that
backend sees, bfloat16 support, the precision convnet.py's image stages would use, and where
the scripts look for data and VGG16's weights.

Not a book section.
"""

import os
import platform
import sys
from pathlib import Path

from support import backend_check, run_records, smoke

VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


def describe_setup(data_dir=None):
    """The setup as {label: text}, in the order a report shows it. `data_dir` is --data-dir
    (default: DLWP_DATA_DIR, as every script reads it)."""
    machine = run_records.describe_machine()
    backend, source = backend_check.backend_setting()
    versions = ", ".join(f"{package} {run_records.version(package)}" for package in
                         ("tensorflow", "keras", "jax", "torch", "numpy"))
    known = machine["cpu_flags"]  # None where the system does not say (not Linux)
    flags = ("unknown" if known is None
             else ", ".join(known) or f"none of {', '.join(run_records.CPU_FLAGS)}")
    bfloat16 = [flag for flag in known or () if flag in ("avx512_bf16", "amx_bf16")]
    return {
        "os": f"{machine['os']} ({platform.system()} {platform.release()}, "
              f"{platform.machine()})",
        "python": f"{machine['python']} ({sys.executable})",
        "packages": versions,
        "keras backend": f"{backend} (from {source})",
        "cpu": f"{machine['cpu']}, {machine['cores']} cores; features: {flags}",
        "bfloat16 on the CPU": (f"yes ({', '.join(bfloat16)})" if bfloat16
                                else "unknown" if known is None else "no"),
        "gpus (nvidia-smi)": machine["gpu"],
        f"gpus ({backend})": backend_gpus(backend),
        "image stages' precision": image_precision(),
        **data_places(data_dir),
        "machine name in records": machine["name"],
    }


def backend_gpus(backend):
    """The accelerators the Keras backend itself sees, named as it names them."""
    try:
        if backend == "jax":
            import jax

            return "; ".join(f"{device.platform}: {device.device_kind}"
                             for device in jax.devices() if device.platform != "cpu") or "none"
        if backend == "torch":
            import torch

            found = [f"cuda: {torch.cuda.get_device_name(number)}"
                     for number in range(torch.cuda.device_count())]
            if torch.backends.mps.is_available():
                found.append("mps (Apple GPU)")
            return "; ".join(found) or "none"
        import tensorflow as tf

        found = []
        for device in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(device)
            capability = details.get("compute_capability")
            found.append(f"{details.get('device_name', device.name)}"
                         + (f" (CUDA compute capability {capability[0]}.{capability[1]})"
                            if capability else " (not CUDA)"))
        built = "a CUDA build" if tf.test.is_built_with_cuda() else "not a CUDA build"
        return f"{'; '.join(found) or 'none'} (TensorFlow: {built})"
    except Exception as error:  # a broken GPU setup is what a report is for: say it, go on
        return f"could not ask {backend}: {type(error).__name__}: {error}"


def image_precision():
    """What convnet.py's image stages would train in by default, and why."""
    from support import precision

    policy, _ = precision.choose_policy(None)
    why = {"mixed_float16": "a CUDA GPU", "mixed_bfloat16": "a CPU with bfloat16 units",
           "float32": "no CUDA GPU, and no bfloat16 that pays on this backend"}[policy]
    return f"{policy} ({why}; --no-mixed-precision for float32)"


def data_places(data_dir):
    """Where the scripts look for Keras's dataset files, the pictures and VGG16's weights."""
    from support import getting_pictures, picture_pipeline

    given = Path(data_dir) if data_dir else None
    if given is None and os.environ.get("DLWP_DATA_DIR"):
        given = Path(os.environ["DLWP_DATA_DIR"])
    keras_home = Path(getting_pictures.keras_home()).expanduser()
    pictures = (given or picture_pipeline.DEFAULT_DATA_DIR) / run_records.PICTURES
    weights = keras_home / "models" / VGG16_FILE
    if given:
        datasets = f"{given} (--data-dir or DLWP_DATA_DIR; {there(given)})"
    else:
        datasets = (f"downloaded by keras.datasets into {keras_home / 'datasets'} "
                    f"(no --data-dir or DLWP_DATA_DIR; {there(keras_home / 'datasets')})")
    return {"keras datasets": datasets,
            "pictures (convnet.py)": f"{pictures} ({there(pictures)})",
            "vgg16 weights": f"Keras's download, {weights} ({there(weights)}), unless "
                             f"--weights PATH",
            "sample data (--smoke)": f"{smoke.SAMPLE_DATA_DIR} "
                                     f"({there(smoke.SAMPLE_DATA_DIR)})"}


def there(path):
    return "there" if Path(path).exists() else "not there"


def report(data_dir=None):
    """The setup as text to paste into a bug report."""
    setup = describe_setup(data_dir)
    width = max(len(label) for label in setup) + 1
    return "\n".join(["dlwp-examples setup (paste all of it into the bug report):",
                      *(f"  {label + ':':<{width}} {text}" for label, text in setup.items())])
