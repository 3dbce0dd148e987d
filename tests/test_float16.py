"""A CUDA GPU's own path, run on the CPU: with support/precision.py's check for a CUDA GPU made
to say yes, every image stage of convnet.py picks mixed_float16 as on a CUDA GPU, and its
smoke run trains, tests and writes its outputs in it; a run stopped after its first epoch
goes on from its backup (the loss-scaling optimizer's state included) in it too. No GPU has
run these scripts here: this keeps the code path a GPU takes working. The VGG16 stages run
without --weights, with the network blocked: --smoke alone downloads nothing."""

import json
import math

from support import checkpoints, precision

import pytest

from harness import assert_ok, result_fields, run_convnet

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)

# Each stage's smoke run, made smaller still: float16 on a CPU has no fast kernels (scratch's
# usual smoke run, 80 training pictures, 3 epochs, took 150 s in float16 on a shared 2-core
# CPU), so each stage here sees 4 training pictures, 2 a batch, and 2 each to validate and
# test, for one epoch (scratch two: stopped after the first, then resumed) or one batch.
STAGES = {"scratch": ["--epochs", "2"], "augment": ["--epochs", "1"], "features": ["--epochs", "1"],
          "features-augment": ["--steps-per-epoch", "1"], "finetune": ["--steps-per-epoch", "1"]}
FEW_PICTURES = {"train": 2, "validation": 1, "test": 1}  # of each class


@pytest.fixture(scope="module")
def float16_runs(tmp_path_factory):
    """Each image stage's smoke run (scratch in two parts: stopped after its first epoch,
    then resumed) with a CUDA GPU reported, in one output folder, in a reader's order."""
    import make_images

    images = make_images.make_split_folders(tmp_path_factory.mktemp("images"), FEW_PICTURES)
    runs = tmp_path_factory.mktemp("float16")
    smoke = ["--smoke", "--batch-size", "2", "--data-dir", images.parent, "--output-dir", runs]
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(precision, "cuda_gpu_available", lambda: True)
        keep_epoch = checkpoints.EpochBackup.on_epoch_end

        def stop_after_the_first_epoch(self, epoch, logs=None):
            keep_epoch(self, epoch, logs)
            raise KeyboardInterrupt  # Ctrl-C once epoch 1 is kept

        with patch.context() as stopping:
            stopping.setattr(checkpoints.EpochBackup, "on_epoch_end",
                             stop_after_the_first_epoch)
            results["stopped"] = run_convnet("scratch", *STAGES["scratch"], *smoke)
        for stage, flags in STAGES.items():
            results[stage] = run_convnet(stage, *flags, *smoke)
    return runs, results


def test_every_image_stage_trains_in_float16(float16_runs):
    runs, results = float16_runs
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


def test_a_stop_and_its_resume_in_float16(float16_runs):
    runs, results = float16_runs
    stopped, resumed = results["stopped"], results["scratch"]
    assert stopped.returncode == 130 and stopped.stderr.strip().splitlines()[-1] == "interrupted"
    assert "mixed precision: mixed_float16" in stopped.stdout
    assert "resuming after epoch 1 of 2: " in resumed.stdout
    metrics = json.loads((runs / "scratch" / "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == 2 and metrics["precision"] == "mixed_float16"
    assert result_fields(resumed.stdout)["stage"] == "scratch"
    assert not (runs / "scratch" / "backup").exists()  # removed once the run finished


def test_the_vgg16_stages_smoke_runs_need_no_download(float16_runs):
    # Every test runs with the network blocked (conftest.py), and these runs pass no
    # --weights: --smoke alone gives features and features-augment an untrained VGG16 base
    # (finetune carries on features-augment's model), so none of them downloads ImageNet's.
    _, results = float16_runs
    for stage in ("features", "features-augment", "finetune"):
        assert result_fields(results[stage].stdout)["weights"] == "none", stage
    for stage in ("features", "features-augment"):
        assert "the VGG16 base is UNTRAINED" in results[stage].stdout, stage
