"""Tests for files/training_tools.py: VGG16 weight files, the best checkpoint and its test,
the precision choice (in-process)."""

import argparse
import json

import numpy as np
import pytest

import checkpoints
import training_tools
from conftest import write_vgg16_weights


@pytest.fixture(scope="module")
def vgg16_notop(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return path, write_vgg16_weights(path)


def test_a_base_only_file_does_not_serve_grad_cam(vgg16_notop, tmp_path):
    assert not training_tools.serves_classifier(str(vgg16_notop[0]))
    for weights in ("imagenet", "none", str(tmp_path / "missing.h5")):
        assert training_tools.serves_classifier(weights)  # missing: load_vgg16 reports it
    reason = training_tools.grad_cam_needs(str(vgg16_notop[0]))
    assert str(vgg16_notop[0]) in reason and "fc1, fc2, predictions" in reason


def test_a_base_only_file_loads_with_its_values(vgg16_notop):
    base = training_tools.load_vgg16(str(vgg16_notop[0]), 48)
    assert base.input_shape == (None, 48, 48, 3)
    kernel, bias = base.get_layer("block3_conv2").get_weights()
    np.testing.assert_array_equal(kernel, vgg16_notop[1]["block3_conv2"][0])


def test_an_untrained_base_says_so(capsys):
    base = training_tools.load_vgg16("none", 32)  # --weights none: random values, no file
    assert base.input_shape == (None, 32, 32, 3) and base.name == "vgg16"
    training_tools.weights_note("none")
    assert "UNTRAINED" in capsys.readouterr().out
    training_tools.weights_note("imagenet")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("validation", ["improves", "worsens"])
def test_best_checkpoint_is_tested_and_renamed(validation, images, tmp_path, capsys):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    # Validating on the opposite labels: the better the fit, the worse the validation loss,
    # so the first epoch is the best one.
    val_y = y if validation == "improves" else 1 - y
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy",
                  metrics=["accuracy"])
    args = argparse.Namespace(output_dir=tmp_path, epochs=4, verbose=0, data_dir=images)
    run = checkpoints.TrainingRun(args)
    history = model.fit(x, y, epochs=4, batch_size=16, validation_data=(x, val_y),
                        callbacks=run.callbacks, verbose=0)
    test = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    results, details = training_tools.test_best_and_last(
        model, history, run, test=test, book="0.5", steps_per_epoch=None, batch_size=16,
        skipped_pictures=2, extra={"precision": "float32"})
    assert results["best_epoch"] == int(np.argmin(history.history["val_loss"])) + 1
    assert results["best_epoch"] == (4 if validation == "improves" else 1)
    # The numbers reported are those of the model kept in model.keras: the last epoch's
    # when it is the best (tested once), the checkpoint's otherwise.
    kept = keras.models.load_model(tmp_path / "model.keras")
    kept_loss, kept_accuracy = kept.evaluate(test, verbose=0)
    # The weights named as the file names them, whichever model was tested.
    assert details["trainable_weights"] == [weight.path for weight in kept.trainable_weights]
    assert results["test_loss"] == pytest.approx(kept_loss, rel=1e-5)
    assert results["test_accuracy"] == pytest.approx(kept_accuracy)
    if validation == "worsens":
        assert results["test_loss"] > results["last_test_loss"]
    assert list(results)[-3:] == ["skipped_pictures", "precision", "epoch_seconds"]
    assert (tmp_path / "model.keras").is_file()
    assert not (tmp_path / "model.partial.keras").exists()
    assert len(details["epoch_seconds_all"]) == 4 and details["pictures_per_epoch"] is None
    json.dumps(details)  # what goes into metrics.json
    assert "best epoch" in capsys.readouterr().out


def test_float32_when_asked():
    assert training_tools.use_mixed_precision(False) == "float32"


def test_grad_cam_needs_the_full_weights_file(vgg16_notop):
    import input_errors

    with pytest.raises(input_errors.DataUnavailable, match="convolutional base only"):
        training_tools.load_vgg16(str(vgg16_notop[0]), 48, include_top=True)


def test_failed_imagenet_download_is_a_clear_error(monkeypatch):
    import input_errors

    def no_network(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: no network")

    monkeypatch.setattr(training_tools.keras.applications, "VGG16", no_network)
    with pytest.raises(input_errors.DataUnavailable, match="--weights none"):
        training_tools.load_vgg16("imagenet", 48)


def test_the_filter_patterns_base_has_the_grad_cam_network_s_weights():
    """visualize builds its pattern base from the classifier it already loaded: every
    convolution carries the same weights, at the patterns' own picture size."""
    import keras

    full = keras.applications.VGG16(weights=None, include_top=True, input_shape=(32, 32, 3),
                                    classes=2)
    base = training_tools.conv_base_of(full, 48)
    assert base.input_shape == (None, 48, 48, 3)
    assert "fc1" not in [layer.name for layer in base.layers]
    convolutions = [layer for layer in base.layers if layer.weights]
    assert len(convolutions) == 13
    for layer in convolutions:
        for mine, theirs in zip(layer.get_weights(), full.get_layer(layer.name).get_weights(),
                                strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_the_progress_bar_counts_to_its_end_and_is_quiet_with_verbose_0(capsys):
    for verbose in (0, 2):
        bar = training_tools.progress_bar(4, verbose)
        for _ in range(4):
            bar.add(1)
    out = capsys.readouterr().out
    assert out.count("4/4") == 1  # the verbose bar only, at its end
