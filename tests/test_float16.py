"""A CUDA GPU's own path, run on the CPU: with support/precision.py's check for a CUDA GPU made
to say yes, every image stage of convnet.py picks mixed_float16 as on a CUDA GPU, and its
smoke run trains, tests and writes its outputs in it. (A backup made in it goes on with the
loss-scaling optimizer's state: test_checkpoints.py, on a small model.) No GPU has run these
scripts here: this keeps the code path a GPU takes working.

These are also the tests of the VGG16 training stages (Chapter 5.3): features runs without
--weights, with the network blocked (--smoke alone downloads nothing), features-augment loads
a small VGG16 weights file in Keras's layout and trains none of it, and finetune carries it
on and unfreezes exactly block5. (Their float32 and bfloat16 runs are the same code of
convnet.py with Keras's plain optimizer: scratch, augment and features run in those in
test_convnet.py, features-augment and finetune on the JAX and PyTorch backends in
test_backends.py.)"""

import json
import math

from support import precision

import numpy as np
import pytest

from harness import assert_ok, check_training, result_fields, run_convnet, write_vgg16_weights

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)

# Each stage's smoke run, made smaller still: float16 on a CPU has no fast kernels (scratch's
# usual smoke run, 80 training pictures, 3 epochs, took 150 s in float16 on a shared 2-core
# CPU), so each stage here sees 4 training pictures, 2 a batch, and 2 each to validate and
# test, for one epoch or one batch.
STAGES = {"scratch": ["--epochs", "1"], "augment": ["--epochs", "1"], "features": ["--epochs", "1"],
          "features-augment": ["--steps-per-epoch", "1"], "finetune": ["--steps-per-epoch", "1"]}
FEW_PICTURES = {"train": 2, "validation": 1, "test": 1}  # of each class


@pytest.fixture(scope="module")
def float16_runs(tmp_path_factory):
    """Each image stage's smoke run with a CUDA GPU reported, in one output folder, in a
    reader's order; features-augment with a VGG16 weights file: (folder, results by stage,
    (the file, its convolutions' values))."""
    import make_images

    images = make_images.make_split_folders(tmp_path_factory.mktemp("images"), FEW_PICTURES)
    runs = tmp_path_factory.mktemp("float16")
    smoke = ["--smoke", "--batch-size", "2", "--data-dir", images.parent, "--output-dir", runs]
    weights = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels"
    weights = weights.with_name(weights.name + "_notop.h5")
    weights_values = write_vgg16_weights(weights)  # {convolution: [kernel, bias]}
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(precision, "cuda_gpu_available", lambda: True)
        for stage, flags in STAGES.items():
            if stage == "features-augment":  # (and so finetune, which carries its base on)
                flags = [*flags, "--weights", weights]
            results[stage] = run_convnet(stage, *flags, *smoke)
    return runs, results, (weights, weights_values)


def test_every_image_stage_trains_in_float16(float16_runs):
    runs, results, _ = float16_runs
    for stage in STAGES:
        result = results[stage]
        fields = assert_ok(result, stage)
        assert "mixed precision: mixed_float16 on tensorflow" in result.stdout
        metrics = json.loads((runs / stage / "metrics.json").read_text())
        assert metrics["precision"] == "mixed_float16"
        assert math.isfinite(float(fields["test_accuracy"])) and math.isfinite(
            metrics["test_loss"])
        assert all(math.isfinite(loss) for loss in metrics["history"]["loss"])
        assert (runs / stage / "model.keras").is_file()


def test_the_vgg16_stages_smoke_runs_need_no_download(float16_runs):
    # Every test runs with the network blocked (conftest.py), and features passes no
    # --weights: --smoke alone gives it an untrained VGG16 base, downloading nothing (as
    # features-augment and visualize would: test_convnet.py).
    _, results, _ = float16_runs
    assert result_fields(results["features"].stdout)["weights"] == "none"
    assert "the VGG16 base is UNTRAINED" in results["features"].stdout


# An untrained VGG16 base gives nearly constant features, and the book's learning rates
# (2e-5, 1e-5) move little in a few smoke steps, so these only check the loss is finite.


def test_features_augment_loads_the_file_and_trains_none_of_vgg16(float16_runs):
    import keras

    runs, results, (weights, weights_values) = float16_runs
    fields = assert_ok(results["features-augment"], "features-augment")
    assert fields["weights"] == str(weights)
    assert "UNTRAINED" not in results["features-augment"].stdout
    metrics = check_training(runs, "features-augment", loss_must_fall=False)
    # Frozen base: only the classifier's two Dense layers (a kernel and a bias each) train.
    assert metrics["trainable_weights"] == ["dense/kernel", "dense/bias",
                                            "dense_1/kernel", "dense_1/bias"]
    # (Without its optimizer: the float16 run's carries the loss scaling's variables.)
    model = keras.models.load_model(runs / "features-augment" / "model.keras", compile=False)
    base = model.get_layer("vgg16")
    assert sum(weight.numpy().size for weight in base.trainable_weights) == 0
    for name in ("block1_conv1", "block5_conv3"):  # the file's values, untouched by training
        kernel, bias = base.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, weights_values[name][0])
        np.testing.assert_array_equal(bias, weights_values[name][1])


def test_finetune_unfreezes_exactly_block5(float16_runs):
    runs, results, (weights, _) = float16_runs
    # The weights the base started from are carried over from features-augment's run, and
    # how many epochs that run trained (so a finetune from a shortened one says so).
    fields = assert_ok(results["finetune"], "finetune")
    assert fields["weights"] == str(weights)
    start = json.loads((runs / "features-augment" / "metrics.json").read_text())
    assert fields["features_augment_epochs"] == str(start["settings"]["epochs"])
    metrics = check_training(runs, "finetune", loss_must_fall=False)
    assert metrics["features_augment_epochs"] == start["settings"]["epochs"]
    vgg16_trainable = [name for name in metrics["trainable_weights"]
                       if not name.startswith("dense")]
    assert vgg16_trainable == [f"block5_conv{i}/{kind}" for i in (1, 2, 3)
                               for kind in ("kernel", "bias")]
    assert len(metrics["trainable_weights"]) == 6 + 4  # block5 + the classifier
