"""Training utilities for Chapter 5: precision, best checkpoints, VGG16 weight files.

What `convnet.py`'s stages use around the book's code, kept out of the chapter script
because the book has none of it (its Keras 2 runs trained in float32, reported the last
epoch, and always downloaded VGG16's weights):

- `use_mixed_precision`: float16 on a CUDA GPU, bfloat16 on a CPU with bfloat16 units;
- `test_best_and_last`: test the model of the epoch with the lowest validation loss (which
  checkpoints.TrainingRun kept) and the last epoch's model; `EpochTimer`: epoch times;
- `load_vgg16`, `conv_base_of`, `weights_file_has_top`: VGG16 from Keras's download, a
  local weights file (the base alone or the full network) or untrained;
- `load_stage_model`: the model an earlier stage saved;
- `progress_bar`: Keras's progress bar for a long loop (VGG16's feature extraction).
"""

import json
import shutil
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import input_errors
import outputs

# --------------------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------------------

# Where bfloat16 on a CPU measured faster than float32 for the scratch stage (same
# accuracy), so mixed precision is on by default there; see the README's backend table.
# On JAX bfloat16 measured 1.08x slower per epoch, on PyTorch 0.90x (one short run, within
# noise): both stay float32 unless --mixed-precision.
BFLOAT16_PAYS_ON_CPU = {"tensorflow": True, "jax": False, "torch": False}


def use_mixed_precision(choice):
    """Set Keras's dtype policy for --mixed-precision (True), --no-mixed-precision (False)
    or neither (None: on where it pays). Returns the policy name in use.

    Mixed precision computes in 16-bit floats and keeps the weights in float32: float16 on a
    CUDA GPU, bfloat16 on a CPU with bfloat16 units (AMX / AVX512-BF16). With TensorFlow on
    such a CPU the scratch stage ran about 2x faster per epoch and reached the same accuracy
    (72.1% vs 71.0% test), so it is on by default there; elsewhere the default is float32.
    """
    backend = keras.backend.backend()
    if choice is False:
        return "float32"
    if cuda_gpu_available():
        policy = "mixed_float16"  # tensor cores on CUDA GPUs
    elif cpu_has_bfloat16() and (choice or BFLOAT16_PAYS_ON_CPU[backend]):
        policy = "mixed_bfloat16"
    else:
        if choice:
            print("note: --mixed-precision ignored: no GPU and no bfloat16 support on this CPU")
        return "float32"
    keras.mixed_precision.set_global_policy(policy)
    print(f"mixed precision: {policy} on {backend} (--no-mixed-precision for float32)")
    return policy


def cuda_gpu_available():
    """Whether the backend Keras runs on sees a CUDA GPU (each backend has its own check)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return bool(tf.config.list_physical_devices("GPU"))


def cpu_has_bfloat16():
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume no
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# --------------------------------------------------------------------------------------
# Best checkpoint, then test
# --------------------------------------------------------------------------------------


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and validation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.epoch_started)


def test_best_and_last(model, history, run, *, test, book, steps_per_epoch, batch_size,
                       skipped_pictures=0, extra=None):
    """Test the last epoch's model and the best checkpoint's; returns (results, details).

    Validation accuracy swings by several points from one epoch to the next, so the number
    reported is not the last epoch's: the run's backup holds the model of the epoch with the
    lowest validation loss (as the book's later editions keep), and that model is tested
    (`test_accuracy`, `best_epoch`). The last epoch's model is tested too
    (`last_test_accuracy`), so both are in view (once, when the last epoch is the best).
    The best model is copied to model.keras in the output folder. `steps_per_epoch` and
    `batch_size` are the fit's (None: one pass over the data); `skipped_pictures` and
    `extra` join the results. `run` is the TrainingRun whose callbacks trained the model.
    """
    last_loss, last_accuracy = model.evaluate(test, verbose=0)
    val_losses = history.history["val_loss"]
    best = run.best_model_path()
    path = Path(run.backup_dir).parent / "model.keras"
    if best is None:  # no finite validation loss at all: keep the last model
        outputs.save_atomically(path, model.save)
        best_epoch = len(val_losses)
    else:
        best_epoch = int(np.nanargmin(val_losses)) + 1
        outputs.save_atomically(path, lambda partial: shutil.copyfile(best, partial))
    if best_epoch == len(val_losses):  # the best model is the one just tested
        test_loss, test_accuracy = last_loss, last_accuracy
    else:
        model = keras.models.load_model(path)
        test_loss, test_accuracy = model.evaluate(test, verbose=0)
    print(f"best epoch {best_epoch} of {len(val_losses)} (lowest validation loss): "
          f"test accuracy {test_accuracy:.4f} (book: {book}), test loss {test_loss:.4f}; "
          f"last epoch: test accuracy {last_accuracy:.4f}; model saved to {path}")
    results = {"test_accuracy": test_accuracy, "test_loss": test_loss,
               "best_epoch": best_epoch,
               "val_accuracy": history.history["val_accuracy"][best_epoch - 1],
               "last_test_accuracy": last_accuracy, "last_test_loss": last_loss}
    if skipped_pictures:
        results["skipped_pictures"] = skipped_pictures
    results.update(extra or {})
    results["epoch_seconds"] = float(np.median(run.epoch_seconds))
    # The trainable weights as a saved model names them: a Sequential model built in this
    # process puts its name in front ("vgg16_augmented/dense/kernel"), a loaded one does not.
    trainable = [weight.path.removeprefix(f"{model.name}/") for weight in model.trainable_weights]
    details = {"history": history.history, "epoch_seconds_all": run.epoch_seconds,
               "steps_per_epoch": steps_per_epoch,
               "pictures_per_epoch": steps_per_epoch and steps_per_epoch * batch_size,
               "trainable_weights": trainable, "parts": run.parts,
               "seconds_before": run.seconds_before}
    return results, details


# --------------------------------------------------------------------------------------
# VGG16 weight files, and the models of earlier stages
# --------------------------------------------------------------------------------------

WEIGHTS_HELP = (
    "Keras downloads VGG16's ImageNet weights once from "
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/ into ~/.keras/models/. "
    "Offline, pass a local copy with --weights PATH "
    "(vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5; the Grad-CAM part of `visualize` "
    "needs the full vgg16_weights_tf_dim_ordering_tf_kernels.h5), "
    "or run with --weights none for an untrained (random) VGG16 base."
)


def load_vgg16(weights, image_size, include_top=False):
    """VGG16 with `weights` "imagenet", "none" (random) or a local weights file.

    A local file is one of the two Keras downloads: the convolutional base only ("notop")
    or the full network with its ImageNet classifier. The full file also serves a base at
    any picture size (the convolution weights do not depend on it). A failed download or
    an unreadable or unsuitable file becomes DataUnavailable (exit code 2).
    """
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise input_errors.DataUnavailable(f"weights file {weights} not found. {WEIGHTS_HELP}")
    local_file_has_top = weights not in ("imagenet", "none") and weights_file_has_top(weights)
    if include_top and weights not in ("imagenet", "none") and not local_file_has_top:
        raise input_errors.DataUnavailable(
            f"{weights} holds VGG16's convolutional base only; Grad-CAM needs the full "
            f"network with its classifier. {WEIGHTS_HELP}")
    # The ImageNet classifier on top (include_top) only takes 224x224 pictures.
    size = 224 if include_top and weights != "none" else image_size
    try:
        if local_file_has_top and not include_top:
            full = keras.applications.VGG16(weights=str(weights), include_top=True)
            return conv_base_of(full, size)
        return keras.applications.VGG16(
            weights=None if weights == "none" else str(weights), include_top=include_top,
            input_shape=(size, size, 3))
    except Exception as error:  # a failed download is a bare Exception in Keras
        if weights == "none":
            raise
        reason = input_errors.error_reason(error)
        raise input_errors.DataUnavailable(
            f"could not load VGG16 weights {weights!r} ({reason}). {WEIGHTS_HELP}") from None


def conv_base_of(full, image_size):
    """VGG16's convolutional base for image_size pictures, with the weights of a full VGG16
    (the convolution weights do not depend on the picture size)."""
    base = keras.applications.VGG16(weights=None, include_top=False,
                                    input_shape=(image_size, image_size, 3))
    for layer in base.layers:
        if layer.weights:  # the convolutions (the input and pooling layers have none)
            layer.set_weights(full.get_layer(layer.name).get_weights())
    return base


def weights_file_has_top(path):
    """Whether a Keras HDF5 weights file holds VGG16's classifier (its layer "fc1")."""
    import h5py  # Keras's own dependency for .h5 files

    try:
        with h5py.File(path, "r") as weights_file:
            names = [name.decode() if isinstance(name, bytes) else str(name)
                     for name in weights_file.attrs.get("layer_names", [])]
    except OSError as error:
        raise input_errors.DataUnavailable(
            f"could not read {path} as a Keras HDF5 weights file ({error}). {WEIGHTS_HELP}"
        ) from None
    return "fc1" in names


def serves_classifier(weights):
    """Whether `weights` give VGG16 its ImageNet classifier, which Grad-CAM needs: Keras's
    download and a full weights file do, a base-only ("notop") file does not. ("none", an
    untrained network, has a random classifier; a missing file is load_vgg16's to report.)"""
    if weights in ("imagenet", "none") or not Path(weights).is_file():
        return True
    return weights_file_has_top(weights)


def grad_cam_needs(weights):
    """Why Grad-CAM cannot run with a base-only weights file, and what it needs."""
    return (f"{weights} holds VGG16's convolutional base only, and Grad-CAM needs the "
            f"ImageNet classifier on top (fc1, fc2, predictions): pass the full "
            f"vgg16_weights_tf_dim_ordering_tf_kernels.h5 with --weights, or leave --weights "
            f"out for Keras's download")


def weights_note(weights):
    if weights == "none":
        print("note: --weights none: the VGG16 base is UNTRAINED (random weights), so the "
              "accuracy says nothing about the book's results; the run only shows the code works")


def load_stage_model(output_dir, stage, expected=None):
    """The model an earlier stage saved next to this stage's output folder.

    A missing, damaged or foreign file (not a Keras model, another stage's model, a model
    an incompatible Keras wrote) is DataUnavailable, naming the file, what was wrong and
    the command that makes it again. `expected(model)` says what is wrong with a loaded
    model that is not the one `stage` saves (None: nothing).
    """
    path = Path(output_dir).parent / stage / "model.keras"
    again = f"run `python files/convnet.py {stage}` (with the same --output-dir) to make it"
    if not path.is_file():
        raise input_errors.DataUnavailable(f"{path} not found: {again} first.")
    print(f"loading {path}")
    try:
        with open(path, "rb") as file:  # unreadable: PermissionError, with its reason
            if not zipfile.is_zipfile(file):  # Keras would call it "not found"
                raise ValueError("not a .keras file: not a zip archive")
        model = keras.models.load_model(path)
    except Exception as error:  # Keras raises many kinds for a file it cannot read
        raise input_errors.DataUnavailable(
            f"{path} is not a model Keras can load ({input_errors.error_reason(error)}); "
            f"{again} again.") from None
    problem = expected(model) if expected else None
    if problem:
        raise input_errors.DataUnavailable(f"{path} is not the model {stage} saves ({problem}); "
                                      f"{again} again.")
    return model, path


def read_stage_metrics(path, stage):
    """The metrics.json an earlier stage wrote (a dict; {} when there is none). A damaged
    file is DataUnavailable, naming it and the command that writes it again."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        raise input_errors.DataUnavailable(
            f"{path} cannot be read ({input_errors.error_reason(error)}); run `python files/"
            f"convnet.py {stage}` (with the same --output-dir) to write it again.") from None
    return record


def load_features_augment_model(output_dir):
    """finetune's start: features-augment's model (with a VGG16 base), its path, and the
    VGG16 weights it started from (so an untrained base is never hidden)."""
    model, path = load_stage_model(output_dir, "features-augment", expected=lambda model: None
                                   if "vgg16" in [layer.name for layer in model.layers]
                                   else "it has no VGG16 base")
    metrics = read_stage_metrics(path.parent / "metrics.json", "features-augment")
    weights_note(metrics.get("weights", "unknown"))
    return model, path, metrics.get("weights", "unknown")


def load_vgg16_to_visualize(weights, image_size):
    """(classifier, conv_base, skipped): Grad-CAM needs the classifier (skipped: why not)."""
    if serves_classifier(weights):
        return load_vgg16(weights, image_size, include_top=True), None, {}
    conv_base, reason = load_vgg16(weights, image_size), grad_cam_needs(weights)
    print(f"Grad-CAM skipped: {reason}")
    return None, conv_base, {"grad_cam": reason}


def not_a_picture_convnet(model):
    """What is wrong with `model` as the scratch stage's convnet (None: nothing): visualize
    shows the activations of its Conv2D layers for one RGB picture."""
    shape = model.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[-1] != 3:
        return f"its input is {shape}, not RGB pictures"
    if not any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers):
        return "it has no Conv2D layers"
    return None


def progress_bar(steps, verbose, unit_name="step"):
    """Keras's progress bar for a long loop (nothing with --verbose 0). Redrawn in place on
    a terminal; in a log file, a new line each minute at most."""
    interactive = sys.stdout.isatty()
    return keras.utils.Progbar(steps if steps >= 0 else None, verbose=1 if verbose else 0,
                               interval=0.5 if interactive else 60, unit_name=unit_name)
