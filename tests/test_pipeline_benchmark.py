"""`convnet.py benchmark` (support/pipeline_benchmark.py): the book's ImageDataGenerator vs
convnet.py's tf.data pipeline, timed on the committed sample pictures (in-process, one tiny
epoch each)."""

import json

from support import stages

import pytest

from harness import assert_no_python_warnings, run_script


def test_benchmark_smoke_run_is_scratch_s():
    import convnet

    args = stages.parse_stage_args(convnet.STAGES, convnet.__doc__, ["benchmark", "--smoke"])
    scratch = stages.parse_stage_args(convnet.STAGES, convnet.__doc__, ["scratch", "--smoke"])
    assert (args.epochs, args.image_size, args.data_dir) == (
        scratch.epochs, scratch.image_size, scratch.data_dir)
    assert args.output_dir.parts[-2:] == ("convnet", "benchmark")
    assert args.mixed_precision is None  # where it pays, as in the training stages


@pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)
def test_benchmark_times_every_pipeline_and_writes_the_ratios(tmp_path):
    done = run_script("convnet", "benchmark", "--smoke", "--epochs", "1", "--output-dir",
                      tmp_path, "--verbose", "0", "--no-mixed-precision")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_no_python_warnings(done)
    last_line = done.stdout.strip().splitlines()[-1]
    assert last_line.startswith(
        "RESULT script=convnet stage=benchmark book_generator_epoch_seconds=")
    metrics = json.loads((tmp_path / "benchmark" / "metrics.json").read_text())
    assert set(metrics["epoch_seconds"]) == {"book_generator", "tf_data", "tf_data_augment"}
    assert all(len(seconds) == 1 and seconds[0] > 0
               for seconds in metrics["epoch_seconds"].values())
    assert metrics["tf_data_ratio"] > 0 and metrics["augment_cost"] > 0
