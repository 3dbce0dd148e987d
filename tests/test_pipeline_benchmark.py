"""files/support/pipeline_benchmark.py: the book's ImageDataGenerator vs convnet.py's tf.data
pipeline, timed on the committed sample pictures (in-process, one tiny epoch each)."""

import json

import pytest

from harness import assert_no_python_warnings, run_script

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)


def test_benchmark_times_every_pipeline_and_writes_the_ratios(tmp_path):
    done = run_script("support.pipeline_benchmark", "--smoke", "--epochs", "1", "--output-dir",
                      tmp_path, "--verbose", "0", "--no-mixed-precision")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_no_python_warnings(done)
    last_line = done.stdout.strip().splitlines()[-1]
    assert last_line.startswith("RESULT script=pipeline_benchmark book_generator_epoch_seconds=")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["epoch_seconds"]) == {"book_generator", "tf_data", "tf_data_augment"}
    assert all(len(seconds) == 1 and seconds[0] > 0
               for seconds in metrics["epoch_seconds"].values())
    assert metrics["tf_data_ratio"] > 0 and metrics["augment_cost"] > 0
