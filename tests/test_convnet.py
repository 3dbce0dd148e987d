"""Tests for files/convnet.py (Chapter 5): its stages in --smoke mode, offline.

The stages run in this process through convnet.main(argv), on the committed sample
pictures (data/sample/cats_and_dogs_small/) or tiny picture folders made by
data/make_images.py; visualize uses small VGG16 weight files in Keras's layout (no
download). The other VGG16 training stages run in test_float16.py (on a CUDA GPU's path,
with a VGG16 weights file); the machinery beside convnet.py has its own tests:
test_picture_pipeline.py, test_vgg16_weights.py, test_convnet_figures.py,
test_getting_pictures.py.
"""

import json

from support import book_curves, errors, stages

import numpy as np
import pytest

import make_images
from harness import (
    assert_ok,
    assert_png,
    book_curves_drawn,
    check_training,
    fake_kagglehub,
    run_convnet,
    run_script,
    write_vgg16_weights,
)

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)


def assert_book_curves_drawn(figure, stage, keys=("loss", "val_loss", "accuracy",
                                                  "val_accuracy")):
    """The figure draws the book's run of `stage`, every value as the data file holds it."""
    book = book_curves.book_history("convnet", stage)["history"]
    drawn = [values for _, (_, values) in book_curves_drawn(figure).items()]
    for key in keys:
        assert book[key] in drawn, f"the book's {key} of {stage} is not drawn"
    assert "Keras 2.0.8" in figure["caption"]


@pytest.fixture(scope="module")
def scratch_run(runs):
    # No --data-dir: --smoke reads the committed sample pictures.
    return run_convnet("scratch", "--smoke", "--output-dir", runs)


@pytest.fixture(scope="module")
def vgg16_notop(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return path, write_vgg16_weights(path)


# --- Training stages -------------------------------------------------------------------


def test_mnist_smoke(runs):
    # (convnet.py as a real process: test_errors.py's Ctrl-C test.)
    assert_ok(run_convnet("mnist", "--smoke", "--output-dir", runs), "mnist")
    check_training(runs, "mnist")


def test_scratch_smoke(scratch_run, runs):
    assert_ok(scratch_run, "scratch")
    check_training(runs, "scratch")
    (figure,) = scratch_run.figures  # training.png
    assert figure["title"] == "Dogs vs cats, convnet from scratch"
    assert_book_curves_drawn(figure, "scratch")


def test_augment_smoke(scratch_run, images, runs):
    assert scratch_run.returncode == 0
    result = run_convnet("augment", "--smoke", "--data-dir", images, "--output-dir", runs)
    assert_ok(result, "augment")
    check_training(runs, "augment")
    # scratch ran in the same output folder: the side-by-side validation curves are drawn.
    assert_png(runs / "augment" / "compare_scratch.png")
    training, compare = result.figures
    assert_book_curves_drawn(training, "augment")
    for stage in ("scratch", "augment"):  # by pictures seen: the book's 2,000 and 3,200
        assert_book_curves_drawn(compare, stage, keys=["val_accuracy"])
    assert "1,600 draws" in compare["caption"]  # how the book's augment run validated


def test_features_smoke_with_an_offline_weights_file(images, runs, vgg16_notop):
    # The features stage in the precision this machine picks (float16: test_float16.py, with
    # the other VGG16 stages), its base from a weights file in Keras's layout. An untrained
    # base's features are nearly constant and the book's learning rate (2e-5) moves little in
    # a few smoke steps: the loss need only be finite.
    result = run_convnet("features", "--smoke", "--weights", vgg16_notop[0],
                         "--data-dir", images, "--output-dir", runs)
    assert assert_ok(result, "features")["weights"] == str(vgg16_notop[0])
    assert "UNTRAINED" not in result.stdout
    check_training(runs, "features", loss_must_fall=False)


def test_visualize_smoke(scratch_run, images, runs):
    assert scratch_run.returncode == 0
    # --smoke alone: an untrained VGG16 with its classifier (no download) serves both the
    # filter patterns of the base and the Grad-CAM of the classifier. (A full weights file
    # serves the same: test_vgg16_weights.py.)
    result = run_convnet("visualize", "--smoke", "--data-dir", images, "--output-dir", runs)
    assert assert_ok(result, "visualize")["weights"] == "none"
    assert "the VGG16 base is UNTRAINED" in result.stdout
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
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["drawn"] == {"activations": 8, "filter_patterns": 4, "grad_cam": 2}
    assert metrics["skipped"] == {} and metrics["pngs"] == 14


def test_visualize_with_a_base_only_file_draws_all_but_grad_cam(scratch_run, images, runs,
                                                               vgg16_notop, tmp_path):
    assert scratch_run.returncode == 0
    (tmp_path / "scratch").symlink_to(runs / "scratch")  # the scratch model it reads
    result = run_convnet("visualize", "--smoke", "--weights", vgg16_notop[0],
                         "--data-dir", images, "--output-dir", tmp_path)
    fields = assert_ok(result, "visualize")
    assert fields["pngs"] == "12" and "class_index" not in fields
    # One line says what was skipped and what it needs.
    skipped = [line for line in result.stdout.splitlines() if "Grad-CAM skipped" in line]
    assert len(skipped) == 1
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in skipped[0]
    assert "leave --weights out" in skipped[0]
    folder = tmp_path / "visualize"
    for block in range(1, 5):
        assert_png(folder / f"filters_block{block}_conv1.png")
    assert len(list(folder.glob("activations_*.png"))) == 8
    assert not list(folder.glob("gradcam*"))
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["drawn"] == {"activations": 8, "filter_patterns": 4, "grad_cam": 0}
    assert "convolutional base only" in metrics["skipped"]["grad_cam"]


# --- prepare -----------------------------------------------------------------------------

# File numbers at both ends of each split, plus some the book leaves out (2000, 2500).
KAGGLE_NUMBERS = [0, 1, 999, 1000, 1499, 1500, 1999, 2000, 2500]


def snapshot(folder):
    return {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in folder.iterdir()}


def test_prepare_copies_book_split_once_and_skips_corrupt(tmp_path):
    from support import getting_pictures

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
    again = getting_pictures.copy_book_subset(getting_pictures.open_source(source), split,
                                              verbose=0)
    outcomes = [copy.outcome for copy in again]
    assert outcomes.count("copied") == 0 and outcomes.count("already there") == 13
    assert snapshot(split / "test" / "cats") == copies
    assert snapshot(source) == before


def test_prepare_unpacks_a_kagglehub_download(tmp_path, monkeypatch):
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
    fake_kagglehub(monkeypatch, lambda handle: str(download))
    # Kaggle credentials set up: Kaggle's copy stays the default, as before Microsoft's.
    result = run_script("convnet", "prepare", "--data-dir", tmp_path / "data", "--output-dir",
                        tmp_path / "runs", "--verbose", "0",
                        env={"KAGGLE_USERNAME": "reader", "KAGGLE_KEY": "0123"})
    assert assert_ok(result, "prepare")["copied"] == str(len(KAGGLE_NUMBERS) * 2 - 4)
    assert ("downloading Kaggle's copy with kagglehub (Kaggle credentials found); "
            "--download microsoft takes Microsoft's") in result.stdout
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
        parser = stages.make_stage_parser(convnet.STAGES, convnet.__doc__)
        parser.parse_args([stage, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--epochs", "--batch-size", "--seed", "--data-dir", "--output-dir", "--smoke",
                 "--verbose"):
        assert flag in text


@pytest.mark.parametrize("argv, epochs, image_size, steps", [
    (["scratch"], 3, 48, None),  # one pass over the smoke pictures an epoch
    (["augment"], 3, 48, None),  # not the book's 100 batches
    (["features-augment"], 1, 32, 2),  # through VGG16: 2 batches of its smallest pictures
    (["finetune", "--steps-per-epoch", "3", "--epochs", "2"], 1, 32, 3),  # steps asked for
])
def test_smoke_settings_of_the_training_stages(argv, epochs, image_size, steps):
    import convnet

    args = stages.parse_stage_args(convnet.STAGES, convnet.__doc__, [*argv, "--smoke"])
    assert (args.epochs, args.image_size, args.steps_per_epoch) == (epochs, image_size, steps)


def test_smallest_image_sizes_fit_the_networks():

    import keras

    import convnet

    smallest = convnet.SCRATCH.min_image_size
    assert convnet.build_small_convnet(smallest, 1e-4).output_shape == (None, 1)
    # One pixel less leaves the last pooling nothing: Keras 3.15 and later refuse to build
    # the network, earlier versions build it with an empty 0x0 feature map.
    try:
        model = convnet.build_small_convnet(smallest - 1, 1e-4)
    except ValueError:
        return
    last_pooling = [layer for layer in model.layers
                    if isinstance(layer, keras.layers.MaxPooling2D)][-1]
    assert 0 in last_pooling.output.shape[1:3]


def test_augment_help_states_the_book_s_epoch(capsys):
    import convnet

    with pytest.raises(SystemExit):
        parser = stages.make_stage_parser(convnet.STAGES, convnet.__doc__)
        parser.parse_args(["augment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--steps-per-epoch" in text and "100 x 32 = 3200 augmented pictures" in text


def test_a_vgg16_stage_s_smoke_run_needs_no_download():
    # --smoke alone takes an untrained base for each stage that loads VGG16 (finetune
    # carries on features-augment's model), so none of them downloads ImageNet's weights.
    # (Their smoke runs without --weights, with the network blocked as in every test:
    # test_float16.py.)
    import convnet

    for stage in ("features", "features-augment", "visualize"):
        args = stages.parse_stage_args(convnet.STAGES, convnet.__doc__, [stage, "--smoke"])
        assert args.weights == "none", stage


def test_the_tests_network_block_refuses_and_records():
    import socket

    from conftest import NETWORK_ATTEMPTS

    with pytest.raises(OSError, match="Network is unreachable"):
        socket.create_connection(("storage.googleapis.com", 443), timeout=1)
    assert NETWORK_ATTEMPTS == [(("storage.googleapis.com", 443),)]
    NETWORK_ATTEMPTS.clear()  # (this one was on purpose)


def test_later_stage_without_earlier_model_says_what_to_run(tmp_path, images):

    import convnet

    with pytest.raises(errors.DataUnavailable, match="convnet.py features-augment"):
        convnet.main(["finetune", "--smoke", "--data-dir", str(images),
                      "--output-dir", str(tmp_path)])
    with pytest.raises(errors.DataUnavailable, match="convnet.py scratch"):
        convnet.main(["visualize", "--smoke", "--data-dir", str(images),
                      "--output-dir", str(tmp_path)])


def test_grad_cam_heatmap(tmp_path):
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
