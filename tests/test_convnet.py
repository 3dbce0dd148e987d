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
    assert not (folder / "model.partial.keras").exists()  # renamed when training ended
    assert_png(folder / "training.png")
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "seconds"):
        assert math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    if stage != "mnist":  # the image stages test their best checkpoint and the last epoch
        val_losses = metrics["history"]["val_loss"]
        assert metrics["best_epoch"] == int(np.argmin(val_losses)) + 1
        assert 0.0 <= metrics["last_test_accuracy"] <= 1.0
        assert metrics["val_accuracy"] == pytest.approx(
            metrics["history"]["val_accuracy"][metrics["best_epoch"] - 1], abs=1e-6)
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


# VGG16 weight files in the layout of Keras's downloads (legacy HDF5, Keras 2 names), with
# random values: what a reader offline passes as --weights PATH.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def write_vgg16_weights(path, include_top=False, seed=0):
    """Write a VGG16 weights file like vgg16_weights_tf_dim_ordering_tf_kernels[_notop].h5.

    Returns {layer name: [kernel, bias]} of the convolution layers. The classifier's two
    big layers (fc1 alone is 25088 x 4096) are stored as HDF5 fill values, so the file
    stays small on disk.
    """
    import h5py

    rng = np.random.default_rng(seed)
    conv, names = {}, ["input_1"]
    channels = 3
    for block, widths in enumerate(VGG16_BLOCKS, start=1):
        for index, width in enumerate(widths, start=1):
            kernel = rng.normal(0, np.sqrt(2 / (9 * channels)), (3, 3, channels, width))
            conv[f"block{block}_conv{index}"] = [kernel.astype("float32"),
                                                 np.zeros(width, "float32")]
            names.append(f"block{block}_conv{index}")
            channels = width
        names.append(f"block{block}_pool")
    top = {}
    if include_top:
        names += ["flatten", "fc1", "fc2", "predictions"]
        top = {"fc1": (25088, 4096), "fc2": (4096, 4096), "predictions": (4096, 1000)}
    with h5py.File(path, "w") as weights_file:
        weights_file.attrs["layer_names"] = [name.encode() for name in names]
        weights_file.attrs["backend"] = b"tensorflow"
        weights_file.attrs["keras_version"] = b"2.0.8"
        for name in names:
            group = weights_file.create_group(name)
            if name in conv:
                weight_names = [f"{name}_W_1:0", f"{name}_b_1:0"]
                for weight_name, value in zip(weight_names, conv[name], strict=True):
                    group.create_dataset(weight_name, data=value)
            elif name in top:
                weight_names = [f"{name}_W_1:0", f"{name}_b_1:0"]
                fan_in, units = top[name]
                if name == "predictions":  # random, so the classes differ for Grad-CAM
                    group.create_dataset(weight_names[0], data=rng.normal(
                        0, 0.01, (fan_in, units)).astype("float32"))
                else:
                    group.create_dataset(weight_names[0], shape=(fan_in, units),
                                         dtype="float32", fillvalue=1e-3)
                group.create_dataset(weight_names[1], data=np.zeros(units, "float32"))
            else:
                weight_names = []
            group.attrs["weight_names"] = [weight_name.encode() for weight_name in weight_names]
    return conv


@pytest.fixture(scope="module")
def vgg16_notop(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return path, write_vgg16_weights(path)


@pytest.fixture(scope="module")
def vgg16_full(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    write_vgg16_weights(path, include_top=True)
    return path


@pytest.fixture(scope="module")
def features_augment_run(images, runs, vgg16_notop):
    return run_convnet("features-augment", "--smoke", "--weights", vgg16_notop[0],
                       "--data-dir", images, "--output-dir", runs)


# --- Training stages -------------------------------------------------------------------


def test_mnist_smoke(runs):
    assert_ok(run_convnet("mnist", "--smoke", "--output-dir", runs), "mnist")
    check_training(runs, "mnist")


def test_scratch_smoke(scratch_run, runs):
    assert_ok(scratch_run, "scratch")
    check_training(runs, "scratch")


def test_augment_smoke(scratch_run, images, runs):
    assert scratch_run.returncode == 0
    result = run_convnet("augment", "--smoke", "--data-dir", images, "--output-dir", runs)
    assert_ok(result, "augment")
    check_training(runs, "augment")
    # scratch ran in the same output folder: the side-by-side validation curves are drawn.
    assert_png(runs / "augment" / "compare_scratch.png")


# An untrained VGG16 base gives nearly constant features, and the book's learning rates
# (2e-5, 1e-5) move little in a few smoke steps, so these only check the loss is finite.


def test_features_smoke(images, runs):
    result = run_convnet("features", "--smoke", "--weights", "none",
                         "--data-dir", images, "--output-dir", runs)
    assert assert_ok(result, "features")["weights"] == "none"
    assert "UNTRAINED" in result.stdout
    check_training(runs, "features", loss_must_fall=False)


def test_features_with_an_offline_weights_file(images, runs, vgg16_notop, tmp_path):
    result = run_convnet("features", "--smoke", "--weights", vgg16_notop[0],
                         "--data-dir", images, "--output-dir", tmp_path)
    assert assert_ok(result, "features")["weights"] == str(vgg16_notop[0])
    assert "UNTRAINED" not in result.stdout
    check_training(tmp_path, "features", loss_must_fall=False)


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
    # The weights the base started from are carried over from features-augment's run.
    assert assert_ok(result, "finetune")["weights"] == str(vgg16_notop[0])
    metrics = check_training(runs, "finetune", loss_must_fall=False)
    vgg16_trainable = [name for name in metrics["trainable_weights"]
                       if not name.startswith("dense")]
    assert vgg16_trainable == [f"block5_conv{i}/{kind}" for i in (1, 2, 3)
                               for kind in ("kernel", "bias")]
    assert len(metrics["trainable_weights"]) == 6 + 4  # block5 + the classifier


def test_visualize_smoke_with_a_full_weights_file(scratch_run, images, runs, vgg16_full):
    assert scratch_run.returncode == 0
    # The full download (with the ImageNet classifier) serves both the filter patterns of
    # the base and the Grad-CAM of the classifier.
    result = run_convnet("visualize", "--smoke", "--weights", vgg16_full,
                         "--data-dir", images, "--output-dir", runs)
    assert assert_ok(result, "visualize")["weights"] == str(vgg16_full)
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


def fake_kagglehub(folder, body):
    """A kagglehub module on PYTHONPATH whose competition_download does `body`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kagglehub.py").write_text(
        "from pathlib import Path\n\n\ndef competition_download(handle):\n" + body)
    return {"PYTHONPATH": str(folder)}


def assert_clear_exit_2(result, *needles):
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]  # after TensorFlow's start-up lines
    assert message.startswith("error:"), result.stderr
    for needle in needles:
        assert needle in message, (needle, message)


KAGGLE_NEEDLES = ('pip install ".[kaggle]"', "kaggle.json", "KAGGLE_USERNAME", "rules",
                  "--source")


def test_prepare_download_failure_is_a_clear_error(tmp_path):
    env = fake_kagglehub(tmp_path / "fake", "    raise RuntimeError("
                         "'401 Client Error: Unauthorized for dogs-vs-cats')\n")
    result = run_script("convnet", "prepare", "--data-dir", tmp_path, "--output-dir",
                        tmp_path / "runs", "--verbose", "0", env=env)
    assert_clear_exit_2(result, "401 Client Error", "kagglehub", *KAGGLE_NEEDLES)
    assert not (tmp_path / "cats_and_dogs_small").exists()


def test_prepare_without_kagglehub_says_how_to_get_it(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "kagglehub.py").write_text("raise ImportError('No module named kagglehub')\n")
    result = run_script("convnet", "prepare", "--data-dir", tmp_path, "--output-dir",
                        tmp_path / "runs", "--verbose", "0", env={"PYTHONPATH": str(fake)})
    assert_clear_exit_2(result, *KAGGLE_NEEDLES)


def test_prepare_unpacks_a_kagglehub_download(tmp_path):
    import zipfile

    # What the competition download holds: train.zip (with train/cat.N.jpg ...) and more.
    pictures = make_images.make_kaggle_train(tmp_path / "pictures" / "train", KAGGLE_NUMBERS,
                                             size=16)
    download = tmp_path / "download"
    download.mkdir()
    with zipfile.ZipFile(download / "train.zip", "w") as archive:
        for picture in pictures.iterdir():
            archive.write(picture, f"train/{picture.name}")
    (download / "sampleSubmission.csv").write_text("id,label\n")
    env = fake_kagglehub(tmp_path / "fake", f"    return {str(download)!r}\n")
    result = run_script("convnet", "prepare", "--data-dir", tmp_path / "data", "--output-dir",
                        tmp_path / "runs", "--verbose", "0", env=env)
    assert assert_ok(result, "prepare")["copied"] == str(len(KAGGLE_NUMBERS) * 2 - 4)
    split = tmp_path / "data" / "cats_and_dogs_small"
    assert {path.name for path in (split / "test" / "dogs").iterdir()} == \
        {"dog.1500.jpg", "dog.1999.jpg"}
    assert (tmp_path / "data" / "dogs-vs-cats" / "train" / "cat.0.jpg").is_file()
    assert not list((tmp_path / "data").glob("*.partial"))


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


def test_training_pictures_repeat_and_evaluation_pictures_come_once(images):
    import convnet

    folder = images / "cats_and_dogs_small" / "train"
    count = len(list(folder.glob("*/*.jpg")))
    paths, labels, skipped = convnet.split_pictures(folder)
    assert len(paths) == count and not skipped
    once = convnet.image_dataset(paths, labels, 48, batch_size=16)
    for _ in range(2):  # the second pass comes from the cache
        batch_labels = np.concatenate([labels.numpy() for _, labels in once])
        assert batch_labels.shape == (count, 1)
        assert batch_labels.sum() == count / 2  # as many dogs (1) as cats (0)
    # Training data repeats, as the book's generators did: 3 passes' worth of batches.
    training = convnet.image_dataset(paths, labels, 48, batch_size=count // 2, training=True,
                                     augment=True, seed=1)
    batches = [(images_.numpy(), labels.numpy()) for images_, labels in training.take(6)]
    assert all(batch.shape == (count // 2, 48, 48, 3) for batch, _ in batches)
    assert sum(labels.sum() for _, labels in batches) == 3 * count / 2
    assert batches[0][0].dtype == np.float32 and 0 <= batches[0][0].min() <= 255


def test_smallest_image_sizes_fit_the_networks():
    import convnet

    assert convnet.build_small_convnet(convnet.MIN_IMAGE_SIZE["scratch"]).output_shape == (None, 1)
    with pytest.raises(ValueError):
        convnet.build_small_convnet(convnet.MIN_IMAGE_SIZE["scratch"] - 1)


def reference_2_0_8_transform(image, draws):
    """Keras 2.0.8's ImageDataGenerator.random_transform for one picture, written out in
    NumPy from its source: R @ T @ S @ Z about the centre, nearest sampling and fill,
    then the flip. `draws` are the seven uniform [0, 1) numbers book_augmentation uses."""
    height, width = image.shape[:2]

    def spread(index, low, high):
        return low + draws[index] * (high - low)

    theta = np.deg2rad(spread(0, -40, 40))
    tx, ty = spread(1, -0.2, 0.2) * height, spread(2, -0.2, 0.2) * width
    shear = spread(3, -0.2, 0.2)  # radians
    zx, zy = spread(4, 0.8, 1.2), spread(5, 0.8, 1.2)
    rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                         [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shearing = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    o_row, o_col = height / 2 + 0.5, width / 2 + 0.5
    offset = np.array([[1, 0, o_row], [0, 1, o_col], [0, 0, 1]])
    reset = np.array([[1, 0, -o_row], [0, 1, -o_col], [0, 0, 1]])
    matrix = offset @ rotation @ shift @ shearing @ zoom @ reset
    rows, cols = np.mgrid[0:height, 0:width]
    source = np.einsum("ij,jhw->ihw", matrix, np.stack([rows, cols, np.ones_like(rows)]))
    source_rows = np.clip(np.round(source[0]), 0, height - 1).astype(int)  # fill "nearest"
    source_cols = np.clip(np.round(source[1]), 0, width - 1).astype(int)
    out = image[source_rows, source_cols]
    return out[:, ::-1] if draws[6] < 0.5 else out


def test_augmentation_is_keras_2_0_8_image_data_generator():
    import tensorflow as tf

    import convnet

    pictures = np.random.default_rng(0).integers(0, 256, (6, 30, 40, 3), dtype=np.uint8)
    seed = tf.constant([7, 3], tf.int64)
    augmented = convnet.book_augmentation(tf.constant(pictures), seed).numpy()
    draws = tf.random.stateless_uniform([6, 7], seed=seed).numpy()
    assert augmented.shape == pictures.shape and augmented.dtype == np.uint8
    for picture, result, picture_draws in zip(pictures, augmented, draws, strict=True):
        expected = reference_2_0_8_transform(picture, picture_draws)
        # Only a coordinate that lands within float rounding of a pixel boundary may differ.
        assert (expected != result).any(axis=-1).mean() < 0.005
    assert not np.array_equal(augmented, pictures)
    # Same seed, same pictures: reproducible; another seed: other transforms.
    assert np.array_equal(convnet.book_augmentation(tf.constant(pictures), seed).numpy(),
                          augmented)
    other = convnet.book_augmentation(tf.constant(pictures), tf.constant([8, 3], tf.int64))
    assert not np.array_equal(other.numpy(), augmented)


def test_augmentation_at_mid_range_is_identity_or_mirror(monkeypatch):
    import tensorflow as tf

    import convnet

    # Draws in the middle of every range mean no rotation, shift or shear and a zoom of 1:
    # the picture comes back unchanged, or exactly mirrored when the flip draw is < 0.5.
    picture = np.arange(9 * 9 * 3, dtype=np.uint8).reshape(1, 9, 9, 3)
    for flip_draw, expected in ((0.25, picture[:, :, ::-1]), (0.75, picture)):
        draws = tf.constant([[0.5] * 6 + [flip_draw]], tf.float32)
        monkeypatch.setattr(tf.random, "stateless_uniform", lambda shape, seed, d=draws: d)
        result = convnet.book_augmentation(tf.constant(picture), tf.constant([0, 0], tf.int64))
        np.testing.assert_array_equal(result.numpy(), expected)


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


def test_grad_cam_needs_the_full_weights_file(vgg16_notop):
    import convnet
    import helpers

    with pytest.raises(helpers.DataUnavailable, match="convolutional base only"):
        convnet.load_vgg16(str(vgg16_notop[0]), 48, include_top=True)


def test_augment_help_states_the_book_s_epoch(capsys):
    import convnet

    with pytest.raises(SystemExit):
        convnet.make_parser().parse_args(["augment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--steps-per-epoch" in text and "100 x 32 = 3200 augmented pictures" in text


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


def test_the_filter_patterns_base_has_the_grad_cam_network_s_weights():
    """visualize builds its pattern base from the classifier it already loaded: every
    convolution carries the same weights, at the patterns' own picture size."""
    import keras

    import convnet

    full = keras.applications.VGG16(weights=None, include_top=True, input_shape=(32, 32, 3),
                                    classes=2)
    base = convnet.conv_base_of(full, 48)
    assert base.input_shape == (None, 48, 48, 3)
    assert "fc1" not in [layer.name for layer in base.layers]
    convolutions = [layer for layer in base.layers if layer.weights]
    assert len(convolutions) == 13
    for layer in convolutions:
        for mine, theirs in zip(layer.get_weights(), full.get_layer(layer.name).get_weights(),
                                strict=True):
            np.testing.assert_array_equal(mine, theirs)


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


def test_pipeline_vgg16_preprocessing_is_keras_s():
    import keras
    import tensorflow as tf

    import convnet

    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(pixels.copy())
    np.testing.assert_allclose(convnet.vgg16_preprocess(tf.constant(pixels)).numpy(),
                               expected, atol=1e-4)
