"""Tests for files/support/vgg16_weights.py: VGG16 from a local weights file, untrained, or
Keras's download (in-process)."""


from support import vgg16_weights

import numpy as np
import pytest

from harness import write_vgg16_weights


@pytest.fixture(scope="module")
def vgg16_notop(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return path, write_vgg16_weights(path)


def test_a_base_only_file_does_not_serve_grad_cam(vgg16_notop, tmp_path):
    assert not vgg16_weights.serves_classifier(str(vgg16_notop[0]))
    for weights in ("imagenet", "none", str(tmp_path / "missing.h5")):
        assert vgg16_weights.serves_classifier(weights)  # missing: load_vgg16 reports it
    reason = vgg16_weights.grad_cam_needs(str(vgg16_notop[0]))
    assert str(vgg16_notop[0]) in reason and "fc1, fc2, predictions" in reason


def test_a_full_weights_file_serves_grad_cam(tmp_path):
    import h5py

    # What tells the two files apart: the layer names Keras wrote, the classifier's with the
    # full file's.
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    with h5py.File(path, "w") as weights_file:
        weights_file.attrs["layer_names"] = [name.encode() for name in (
            "input_1", "block1_conv1", "block5_pool", "flatten", "fc1", "fc2", "predictions")]
    assert vgg16_weights.serves_classifier(str(path))


def test_a_base_only_file_loads_with_its_values(vgg16_notop):
    base = vgg16_weights.load_vgg16(str(vgg16_notop[0]), 48)
    assert base.input_shape == (None, 48, 48, 3)
    kernel, bias = base.get_layer("block3_conv2").get_weights()
    np.testing.assert_array_equal(kernel, vgg16_notop[1]["block3_conv2"][0])


def test_an_untrained_base_says_so(capsys):
    base = vgg16_weights.load_vgg16("none", 32)  # --weights none: random values, no file
    assert base.input_shape == (None, 32, 32, 3) and base.name == "vgg16"
    vgg16_weights.weights_note("none")
    assert "UNTRAINED" in capsys.readouterr().out
    vgg16_weights.weights_note("imagenet")
    assert capsys.readouterr().out == ""


def test_grad_cam_needs_the_full_weights_file(vgg16_notop):
    from support import errors

    with pytest.raises(errors.DataUnavailable, match="convolutional base only"):
        vgg16_weights.load_vgg16(str(vgg16_notop[0]), 48, include_top=True)


def test_failed_imagenet_download_is_a_clear_error(monkeypatch):
    from support import errors

    def no_network(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: no network")

    monkeypatch.setattr(vgg16_weights.keras.applications, "VGG16", no_network)
    with pytest.raises(errors.DataUnavailable, match="--weights none"):
        vgg16_weights.load_vgg16("imagenet", 48)


def test_the_filter_patterns_base_has_the_grad_cam_network_s_weights():
    """visualize builds its pattern base from the classifier it already loaded: every
    convolution carries the same weights, at the patterns' own picture size."""
    import keras

    full = keras.applications.VGG16(weights=None, include_top=True, input_shape=(32, 32, 3),
                                    classes=2)
    base = vgg16_weights.conv_base_of(full, 48)
    assert base.input_shape == (None, 48, 48, 3)
    assert "fc1" not in [layer.name for layer in base.layers]
    convolutions = [layer for layer in base.layers if layer.weights]
    assert len(convolutions) == 13
    for layer in convolutions:
        for mine, theirs in zip(layer.get_weights(), full.get_layer(layer.name).get_weights(),
                                strict=True):
            np.testing.assert_array_equal(mine, theirs)
