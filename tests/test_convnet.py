"""Tests for files/convnet.py (Chapter 5): every stage in --smoke mode, offline.

The stages run as subprocesses, the way a reader runs them, on tiny synthetic picture
folders made by data/make_images.py; the VGG16 stages use --weights none (no download).
"""

import json
import math

import numpy as np
import pytest
from PIL import Image

import make_images
from conftest import assert_png, result_fields, run_script


def run_convnet(*args):
    return run_script("convnet", *args, "--verbose", "0")


def assert_ok(result, stage):
    assert result.returncode == 0, result.stderr[-4000:]
    fields = result_fields(result.stdout)  # the RESULT line is the last line of stdout
    assert fields["script"] == "convnet" and fields["stage"] == stage, fields
    return fields


def check_training(runs, stage, loss_must_fall=True):
    folder = runs / stage
    assert (folder / "model.keras").is_file()
    assert_png(folder / "training.png")
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "seconds"):
        assert math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    losses = metrics["history"]["loss"]
    assert all(math.isfinite(loss) for loss in losses)
    if loss_must_fall:
        assert losses[-1] < losses[0], losses
    return metrics


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A split folder of a few dozen 48x48 "cats" and "dogs"."""
    root = tmp_path_factory.mktemp("images")
    make_images.make_split_folders(root)
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def scratch_run(images, runs):
    return run_convnet("scratch", "--smoke", "--data-dir", images, "--output-dir", runs)


@pytest.fixture(scope="module")
def features_augment_run(images, runs):
    return run_convnet("features-augment", "--smoke", "--weights", "none",
                       "--data-dir", images, "--output-dir", runs)


# --- Training stages -------------------------------------------------------------------


def test_mnist_smoke(runs):
    assert_ok(run_convnet("mnist", "--smoke", "--output-dir", runs), "mnist")
    check_training(runs, "mnist")


def test_scratch_smoke(scratch_run, runs):
    assert_ok(scratch_run, "scratch")
    check_training(runs, "scratch")


def test_augment_smoke(images, runs):
    result = run_convnet("augment", "--smoke", "--data-dir", images, "--output-dir", runs)
    assert_ok(result, "augment")
    check_training(runs, "augment")


# An untrained VGG16 base gives nearly constant features, and the book's learning rates
# (2e-5, 1e-5) move little in a few smoke steps, so these only check the loss is finite.


def test_features_smoke(images, runs):
    result = run_convnet("features", "--smoke", "--weights", "none",
                         "--data-dir", images, "--output-dir", runs)
    assert assert_ok(result, "features")["weights"] == "none"
    assert "UNTRAINED" in result.stdout
    check_training(runs, "features", loss_must_fall=False)


def test_features_augment_smoke(features_augment_run, runs):
    assert assert_ok(features_augment_run, "features-augment")["weights"] == "none"
    check_training(runs, "features-augment", loss_must_fall=False)


def test_finetune_smoke(features_augment_run, images, runs):
    assert features_augment_run.returncode == 0
    result = run_convnet("finetune", "--smoke", "--data-dir", images, "--output-dir", runs)
    assert assert_ok(result, "finetune")["weights"] == "none"  # carried over from its model
    check_training(runs, "finetune", loss_must_fall=False)


def test_visualize_smoke(scratch_run, images, runs):
    assert scratch_run.returncode == 0
    result = run_convnet("visualize", "--smoke", "--weights", "none",
                         "--data-dir", images, "--output-dir", runs)
    assert_ok(result, "visualize")
    folder = runs / "visualize"
    activations = sorted(folder.glob("activations_*.png"))
    assert len(activations) == 8  # 4 Conv2D + 4 MaxPooling2D
    assert_png(activations[0])  # the deeper maps are only a few pixels in smoke runs
    for path in activations:
        assert path.read_bytes().startswith(b"\x89PNG")
    for block in range(1, 5):
        assert_png(folder / f"filters_block{block}_conv1.png")
    assert_png(folder / "gradcam_heatmap.png")
    assert (folder / "gradcam.png").is_file()  # the picture's size: small in smoke runs


# --- prepare -----------------------------------------------------------------------------

# File numbers at both ends of each split, plus some the book leaves out (2000, 2500).
KAGGLE_NUMBERS = [0, 1, 999, 1000, 1499, 1500, 1999, 2000, 2500]


def snapshot(folder):
    return {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in folder.iterdir()}


def test_prepare_copies_book_split_once_and_skips_corrupt(tmp_path):
    import convnet

    source = make_images.make_kaggle_train(tmp_path / "train", KAGGLE_NUMBERS, size=16)
    good = (source / "cat.1.jpg").read_bytes()
    (source / "cat.1.jpg").write_bytes(good[: len(good) // 2])  # a truncated JPEG
    before = snapshot(source)

    result = run_convnet("prepare", "--source", source, "--data-dir", tmp_path,
                         "--output-dir", tmp_path / "runs")
    assert assert_ok(result, "prepare")["skipped"] == "1"
    assert "cat.1.jpg" in result.stderr and "warning" in result.stderr

    split = tmp_path / "cats_and_dogs_small"
    expected = {
        ("train", "cats"): {"cat.0.jpg", "cat.999.jpg"},  # cat.1 was corrupt
        ("train", "dogs"): {"dog.0.jpg", "dog.1.jpg", "dog.999.jpg"},
        ("validation", "cats"): {"cat.1000.jpg", "cat.1499.jpg"},
        ("validation", "dogs"): {"dog.1000.jpg", "dog.1499.jpg"},
        ("test", "cats"): {"cat.1500.jpg", "cat.1999.jpg"},
        ("test", "dogs"): {"dog.1500.jpg", "dog.1999.jpg"},
    }
    for (name, label), files in expected.items():
        assert {path.name for path in (split / name / label).iterdir()} == files
    assert (split / "train" / "dogs" / "dog.999.jpg").read_bytes() == \
        (source / "dog.999.jpg").read_bytes()

    # A second run changes nothing; the source is never modified or emptied.
    copies = snapshot(split / "test" / "cats")
    counts = convnet.prepare_dataset(source, split)
    assert counts["copied"] == 0 and counts["already_there"] == 13
    assert snapshot(split / "test" / "cats") == copies
    assert snapshot(source) == before


def test_prepare_missing_source_fails_clearly(tmp_path):
    result = run_convnet("prepare", "--source", tmp_path / "nowhere",
                         "--data-dir", tmp_path, "--output-dir", tmp_path / "runs")
    assert result.returncode == 2
    assert "error:" in result.stderr and "kaggle" in result.stderr.lower()
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "cats_and_dogs_small").exists()


# --- In-process checks: flags, pipeline, weights, missing models, Grad-CAM ---------------


@pytest.mark.parametrize("stage", ["mnist", "prepare", "scratch", "augment", "features",
                                   "features-augment", "finetune", "visualize"])
def test_each_stage_has_help_with_common_flags(stage, capsys):
    import convnet

    with pytest.raises(SystemExit) as exit_info:
        convnet.make_parser().parse_args([stage, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--epochs", "--batch-size", "--seed", "--data-dir", "--output-dir", "--smoke",
                 "--verbose"):
        assert flag in text


def test_every_epoch_sees_the_whole_training_set(images):
    import convnet

    folder = images / "cats_and_dogs_small" / "train"
    dataset = convnet.image_dataset(folder, 48, batch_size=16, shuffle=True, seed=1)
    count = len(list(folder.glob("*/*.jpg")))
    for _ in range(2):  # the second epoch comes from the cache
        labels = np.concatenate([batch_labels.numpy() for _, batch_labels in dataset])
        assert len(labels) == count
        assert labels.sum() == count / 2  # as many dogs (1) as cats (0)


def test_missing_weights_file_exits_2(tmp_path, capsys):
    import convnet
    import helpers

    argv = ["features", "--smoke", "--weights", str(tmp_path / "nonexistent.h5"),
            "--output-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        helpers.run(lambda: convnet.main(argv))
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "nonexistent.h5" in message and "--weights none" in message


def test_failed_imagenet_download_is_a_clear_error(monkeypatch):
    import convnet
    import helpers

    def no_network(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: no network")

    monkeypatch.setattr(convnet.keras.applications, "VGG16", no_network)
    with pytest.raises(helpers.DataUnavailable, match="--weights none"):
        convnet.load_vgg16("imagenet", 48)


def test_later_stage_without_earlier_model_says_what_to_run(tmp_path, images):
    import convnet
    import helpers

    with pytest.raises(helpers.DataUnavailable, match="convnet.py features-augment"):
        convnet.main(["finetune", "--smoke", "--data-dir", str(images),
                      "--output-dir", str(tmp_path)])
    with pytest.raises(helpers.DataUnavailable, match="convnet.py scratch"):
        convnet.main(["visualize", "--smoke", "--weights", "none", "--data-dir", str(images),
                      "--output-dir", str(tmp_path)])


def test_grad_cam_heatmap_and_overlay(tmp_path):
    import keras

    import convnet

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="last_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    picture = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")

    heatmap, class_index = convnet.grad_cam_heatmap(model, picture, "last_conv")
    assert heatmap.shape == (30, 30)  # the conv layer's output map
    assert 0 <= class_index < 5
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0 + 1e-6

    full_size = np.random.default_rng(1).uniform(0, 255, (60, 80, 3))
    path = convnet.overlay_heatmap(full_size, heatmap, tmp_path / "overlay.png")
    with Image.open(path) as overlay:
        assert overlay.size == (80, 60)  # stretched over the picture
