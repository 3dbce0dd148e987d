"""Tests for files/convnet.py's VGG16 stages (Chapter 5.3): features, features-augment and
finetune in --smoke mode, in this process, with a small VGG16 weights file in Keras's layout
(no download). Apart from test_convnet.py so that the two share the test workers."""

import json

import numpy as np
import pytest

from harness import assert_ok, check_training, run_convnet, write_vgg16_weights

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)


@pytest.fixture(scope="module")
def vgg16_notop(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return path, write_vgg16_weights(path)


@pytest.fixture(scope="module")
def features_augment_run(images, runs, vgg16_notop):
    return run_convnet("features-augment", "--smoke", "--weights", vgg16_notop[0],
                       "--data-dir", images, "--output-dir", runs)


# An untrained VGG16 base gives nearly constant features, and the book's learning rates
# (2e-5, 1e-5) move little in a few smoke steps, so these only check the loss is finite.


def test_features_with_an_offline_weights_file(images, runs, vgg16_notop):
    # (--weights none, an untrained base: test_vgg16_weights.py and the backend runs.)
    result = run_convnet("features", "--smoke", "--weights", vgg16_notop[0],
                         "--data-dir", images, "--output-dir", runs)
    assert assert_ok(result, "features")["weights"] == str(vgg16_notop[0])
    assert "UNTRAINED" not in result.stdout
    check_training(runs, "features", loss_must_fall=False)


def test_features_augment_loads_the_file_and_trains_none_of_vgg16(features_augment_run, runs,
                                                                   vgg16_notop):
    import keras

    assert assert_ok(features_augment_run, "features-augment")["weights"] == str(vgg16_notop[0])
    metrics = check_training(runs, "features-augment", loss_must_fall=False)
    # Frozen base: only the classifier's two Dense layers (a kernel and a bias each) train.
    assert metrics["trainable_weights"] == ["dense/kernel", "dense/bias",
                                            "dense_1/kernel", "dense_1/bias"]
    base = keras.models.load_model(runs / "features-augment" / "model.keras").get_layer("vgg16")
    assert sum(weight.numpy().size for weight in base.trainable_weights) == 0
    for name in ("block1_conv1", "block5_conv3"):  # the file's values, untouched by training
        kernel, bias = base.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, vgg16_notop[1][name][0])
        np.testing.assert_array_equal(bias, vgg16_notop[1][name][1])


def test_finetune_unfreezes_exactly_block5(features_augment_run, images, runs, vgg16_notop):
    assert features_augment_run.returncode == 0
    result = run_convnet("finetune", "--smoke", "--data-dir", images, "--output-dir", runs)
    # The weights the base started from are carried over from features-augment's run, and
    # how many epochs that run trained (so a finetune from a shortened one says so).
    fields = assert_ok(result, "finetune")
    assert fields["weights"] == str(vgg16_notop[0])
    start = json.loads((runs / "features-augment" / "metrics.json").read_text())
    assert fields["features_augment_epochs"] == str(start["settings"]["epochs"])
    metrics = check_training(runs, "finetune", loss_must_fall=False)
    assert metrics["features_augment_epochs"] == start["settings"]["epochs"]
    vgg16_trainable = [name for name in metrics["trainable_weights"]
                       if not name.startswith("dense")]
    assert vgg16_trainable == [f"block5_conv{i}/{kind}" for i in (1, 2, 3)
                               for kind in ("kernel", "bias")]
    assert len(metrics["trainable_weights"]) == 6 + 4  # block5 + the classifier
