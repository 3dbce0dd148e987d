"""VGG16 for Chapter 5: from Keras's download, a local weights file (the convolutional base
alone or the full network) or untrained.

Not in the book: it always downloaded VGG16's ImageNet weights. Offline, `--weights PATH`
takes a local copy of one of Keras's two files; `--weights none` an untrained base.
"""

from pathlib import Path

from support import console, errors

import keras

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
        raise errors.DataUnavailable(f"weights file {weights} not found. {WEIGHTS_HELP}")
    local_file_has_top = weights not in ("imagenet", "none") and weights_file_has_top(weights)
    if include_top and weights not in ("imagenet", "none") and not local_file_has_top:
        raise errors.DataUnavailable(
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
        reason = errors.error_reason(error)
        raise errors.DataUnavailable(
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
        raise errors.DataUnavailable(
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
        console.say("note: --weights none: the VGG16 base is UNTRAINED (random weights), so "
                    "the accuracy says nothing about the book's results; the run only shows "
                    "the code works")


def load_vgg16_to_visualize(weights, image_size):
    """(classifier, conv_base, skipped): Grad-CAM needs the classifier (skipped: why not)."""
    if serves_classifier(weights):
        return load_vgg16(weights, image_size, include_top=True), None, {}
    conv_base, reason = load_vgg16(weights, image_size), grad_cam_needs(weights)
    print(f"Grad-CAM skipped: {reason}")
    return None, conv_base, {"grad_cam": reason}
