"""Tests for files/tensors.py (Chapter 2): naive tensor operations, the from-scratch
training pieces, the command line, and a --smoke run as a subprocess."""

import math

import numpy as np
import pytest

import tensors
from harness import (
    assert_no_python_warnings,
    assert_png,
    finite_numbers,
    read_metrics,
    result_fields,
    run_script,
)

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)

# --- The naive operations give NumPy's results ---------------------------------------------


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_naive_relu_matches_numpy(rng):
    x = rng.normal(size=(5, 7))
    before = x.copy()
    np.testing.assert_allclose(tensors.naive_relu(x), np.maximum(x, 0.0))
    np.testing.assert_array_equal(x, before)  # the input is left alone


def test_naive_add_matches_numpy(rng):
    x, y = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    np.testing.assert_allclose(tensors.naive_add(x, y), x + y)


def test_naive_broadcast_add_matches_numpy(rng):
    x, y = rng.normal(size=(4, 6)), rng.normal(size=6)
    np.testing.assert_allclose(tensors.naive_add_matrix_and_vector(x, y), x + y)


def test_naive_dots_match_numpy(rng):
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(5, 4))
    v = rng.normal(size=5)
    assert tensors.naive_vector_dot(a[0], v) == pytest.approx(np.dot(a[0], v))
    np.testing.assert_allclose(tensors.naive_matrix_vector_dot(a, v), np.dot(a, v))
    np.testing.assert_allclose(tensors.naive_matrix_dot(a, b), np.dot(a, b))


def test_naive_dot_rejects_mismatched_shapes(rng):
    with pytest.raises(AssertionError):
        tensors.naive_matrix_dot(rng.normal(size=(3, 5)), rng.normal(size=(4, 2)))


# --- The from-scratch engine -----------------------------------------------------------------


def test_batch_generator_covers_every_sample_once():
    images, labels = np.arange(10).reshape(10, 1), np.arange(10)
    generator = tensors.BatchGenerator(images, labels, batch_size=4)
    assert generator.num_batches == 3
    batches = [generator.next() for _ in range(generator.num_batches)]
    assert [len(b_labels) for _, b_labels in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b for _, b in batches]), labels)


def test_naive_model_shapes_and_training_step():
    import keras

    keras.utils.set_random_seed(0)
    model = tensors.build_model()
    assert [tuple(w.shape) for w in model.weights] == [(784, 512), (512,), (512, 10), (10,)]
    images = np.random.default_rng(0).random((32, 784)).astype("float32")
    labels = np.arange(32) % 10
    probabilities = keras.ops.convert_to_numpy(model(images))
    assert probabilities.shape == (32, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # Repeated SGD steps on one batch must lower its loss (this backend's gradient function;
    # tests/test_backends.py runs the script on the other two).
    loss_and_gradients = tensors.GRADIENTS[keras.backend.backend()](model)
    losses = [float(tensors.one_training_step(loss_and_gradients, model, images, labels, 0.1))
              for _ in range(5)]
    assert losses[-1] < losses[0]


# --- Command line ------------------------------------------------------------------------------


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        tensors.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--section" in out and "--learning-rate" in out and "Chapter 2" in out


# --- A --smoke run, as a user would start it --------------------------------------------------


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("tensors")
    completed = run_script("tensors", "--smoke", "--output-dir", output_dir)
    return completed, output_dir


def test_smoke_run_succeeds(smoke_run):
    completed, _ = smoke_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert_no_python_warnings(completed)
    fields = result_fields(completed.stdout)  # the last stdout line is the RESULT line
    assert fields["script"] == "tensors"
    for key in ("relu_speedup", "add_speedup", "dot_speedup", "test_accuracy", "seconds"):
        assert math.isfinite(float(fields[key])), key


def test_smoke_run_writes_outputs(smoke_run):
    completed, output_dir = smoke_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert_png(output_dir / "digits.png")
    assert_png(output_dir / "engine_loss.png")
    metrics = read_metrics(output_dir)
    assert all(math.isfinite(number) for number in finite_numbers(metrics))
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["relu_speedup"] > 1  # NumPy beats Python loops, even on a busy machine
    losses = metrics["history"]["loss"]
    assert len(losses) == 2 and losses[-1] < losses[0]  # training went somewhere
