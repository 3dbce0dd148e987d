"""Tests for files/fundamentals.py (Chapter 4): the evaluation protocols, the preprocessing
helpers, the command line, and --smoke runs of every experiment (in this process: the
protocols in one run, the three comparisons in another)."""

import math

from support import book_curves

import numpy as np
import pytest

import fundamentals
from harness import (
    assert_no_python_warnings,
    assert_png,
    book_curves_drawn,
    finite_numbers,
    read_metrics,
    result_fields,
    run_script,
)

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)


def assert_partition(train, validation, num_samples):
    """Train and validation do not overlap and together hold every sample once."""
    assert not set(train.tolist()) & set(validation.tolist())
    assert sorted(np.concatenate([train, validation]).tolist()) == list(range(num_samples))


# --- Hold-out --------------------------------------------------------------------------------


def test_hold_out_split_sizes_and_no_overlap():
    train, validation = fundamentals.hold_out_split(100, validation_fraction=0.2, seed=1)
    assert len(train) == 80 and len(validation) == 20
    assert_partition(train, validation, 100)


def test_hold_out_split_shuffles_reproducibly():
    first = fundamentals.hold_out_split(50, 0.3, seed=3)
    again = fundamentals.hold_out_split(50, 0.3, seed=3)
    other = fundamentals.hold_out_split(50, 0.3, seed=4)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    # Without a seed, the order is kept: the first samples are held out.
    np.testing.assert_array_equal(fundamentals.hold_out_split(10, 0.3)[1], [0, 1, 2])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_hold_out_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError):
        fundamentals.hold_out_split(10, fraction)


# --- K-fold ------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_samples, k, sizes", [(12, 4, [3, 3, 3, 3]), (10, 3, [4, 3, 3])])
def test_k_fold_sizes_and_each_sample_validated_once(num_samples, k, sizes):
    splits = list(fundamentals.k_fold_splits(num_samples, k))
    assert [len(validation) for _, validation in splits] == sizes
    for train, validation in splits:
        assert_partition(train, validation, num_samples)
    validated = np.concatenate([validation for _, validation in splits])
    assert sorted(validated.tolist()) == list(range(num_samples))


@pytest.mark.parametrize("k", [1, 0, 11])
def test_k_fold_rejects_bad_k(k):
    with pytest.raises(ValueError):
        list(fundamentals.k_fold_splits(10, k))


def test_iterated_k_fold_rounds():
    num_samples, k, iterations = 11, 3, 4
    splits = list(fundamentals.iterated_k_fold_splits(num_samples, k, iterations, seed=5))
    assert len(splits) == k * iterations
    rounds = [splits[i * k : (i + 1) * k] for i in range(iterations)]
    for one_round in rounds:
        validated = np.concatenate([validation for _, validation in one_round])
        assert sorted(validated.tolist()) == list(range(num_samples))  # each exactly once
        for train, validation in one_round:
            assert_partition(train, validation, num_samples)
    # Each round is shuffled differently.
    assert not np.array_equal(rounds[0][0][1], rounds[1][0][1])


def test_iterated_k_fold_is_reproducible_with_a_seed():
    def validation_sets(seed):
        return [v.tolist() for _, v in fundamentals.iterated_k_fold_splits(20, 4, 2, seed)]

    assert validation_sets(0) == validation_sets(0)
    assert validation_sets(0) != validation_sets(1)


# --- The protocols call the scoring function with the right data -------------------------------


def recording_scorer(calls):
    """A stand-in for "train a model and score it": remembers which samples it got."""
    def train_and_score(x_train, y_train, x_val, y_val):
        np.testing.assert_array_equal(x_train, y_train)  # rows and labels stay paired
        np.testing.assert_array_equal(x_val, y_val)
        calls.append((x_train.copy(), x_val.copy()))
        return float(len(calls))  # scores 1, 2, 3, ... so the mean is easy to check
    return train_and_score


def test_protocols_return_scores_and_mean():
    x = y = np.arange(20)

    calls = []
    scores, mean = fundamentals.hold_out_validation(x, y, recording_scorer(calls), 0.25, seed=0)
    assert scores == [1.0] and mean == 1.0
    assert len(calls[0][1]) == 5
    assert_partition(*calls[0], 20)

    calls = []
    scores, mean = fundamentals.k_fold_validation(x, y, recording_scorer(calls), k=4)
    assert scores == [1.0, 2.0, 3.0, 4.0] and mean == pytest.approx(2.5)
    assert sorted(np.concatenate([val for _, val in calls]).tolist()) == list(range(20))

    calls = []
    scores, mean = fundamentals.iterated_k_fold_validation(
        x, y, recording_scorer(calls), k=4, iterations=3, seed=0)
    assert len(scores) == 12 and mean == pytest.approx(np.mean(scores))
    for i in range(3):
        one_round = calls[i * 4 : (i + 1) * 4]
        assert sorted(np.concatenate([val for _, val in one_round]).tolist()) == list(range(20))


# --- Preprocessing -----------------------------------------------------------------------------


def test_normalize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(10.0, 3.0, size=(50, 2))
    test = rng.normal(20.0, 3.0, size=(10, 2))  # shifted: it must not be centered on itself
    train_norm, test_norm = fundamentals.normalize(train, test)
    np.testing.assert_allclose(train_norm.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(train_norm.std(axis=0), 1.0)
    np.testing.assert_allclose(test_norm, (test - train.mean(axis=0)) / train.std(axis=0))


def test_missing_values():
    x = np.array([[1.0, np.nan], [np.nan, 2.0]])
    np.testing.assert_array_equal(fundamentals.fill_missing(x), [[1.0, 0.0], [0.0, 2.0]])
    train = np.ones((10, 3))
    augmented = fundamentals.with_artificial_missing(train, feature=2, fraction=0.2,
                                                     rng=np.random.default_rng(0))
    assert augmented.shape == (12, 3)
    assert np.isnan(augmented[10:, 2]).all() and not np.isnan(augmented[:, :2]).any()


def test_models_have_the_books_sizes():
    counts = {name: fundamentals.build_model(**settings).count_params()
              for name, settings in fundamentals.MODELS.items()}
    assert counts["original"] == 10_000 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    assert counts["smaller"] < counts["original"] < counts["bigger"]
    assert counts["l2"] == counts["dropout"] == counts["original"]


# --- Command line ------------------------------------------------------------------------------


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        fundamentals.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--experiment" in out and "Chapter 4" in out


# --- --smoke runs: the protocols and preprocessing, then the three comparisons ------------------


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """`--smoke --experiment NAME` runs (the parts of `all`, apart), each made once."""
    runs = {}

    def run(experiment):
        if experiment not in runs:
            output_dir = tmp_path_factory.mktemp("fundamentals")
            runs[experiment] = (run_script("fundamentals", "--smoke", "--verbose", "0",
                                           "--experiment", experiment, "--output-dir",
                                           output_dir), output_dir)
        return runs[experiment]

    return run


def test_smoke_run_of_the_protocols(smoke_run):
    completed, output_dir = smoke_run("protocols")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert_no_python_warnings(completed)
    fields = result_fields(completed.stdout)  # the last stdout line is the RESULT line
    assert fields["script"] == "fundamentals"
    for key in ("holdout_accuracy", "kfold_accuracy", "iterated_kfold_accuracy", "seconds"):
        assert math.isfinite(float(fields[key])), key
    assert "universal workflow" in completed.stdout
    metrics = read_metrics(output_dir)
    assert all(math.isfinite(number) for number in finite_numbers(metrics))
    assert [len(scores) for scores in metrics["protocol_scores"].values()] == [1, 2, 4]


def test_smoke_run_of_the_preprocessing_examples(smoke_run):
    completed, output_dir = smoke_run("preprocessing")
    assert completed.returncode == 0, completed.stderr[-3000:]
    metrics = read_metrics(output_dir)
    # Normalized with the training data's statistics: the training columns are centered.
    np.testing.assert_allclose(metrics["normalized_train_mean"], 0.0, atol=1e-6)
    assert "IMDB" not in completed.stdout  # no dataset is loaded for these examples


def test_smoke_run_of_the_comparisons(smoke_run):
    completed, output_dir = smoke_run("overfitting")
    assert completed.returncode == 0, completed.stderr[-3000:]
    fields = result_fields(completed.stdout)
    assert math.isfinite(float(fields["original_best_val_loss"]))
    assert 1 <= int(fields["bigger_best_epoch"]) <= 3
    for comparison in ("size", "l2", "dropout"):
        assert_png(output_dir / f"compare_{comparison}.png")
    metrics = read_metrics(output_dir)
    assert set(metrics["histories"]) == set(fundamentals.MODELS)
    for name, curves in metrics["histories"].items():
        assert len(curves["val_loss"]) == 3
        assert curves["loss"][-1] < curves["loss"][0], f"{name}: training loss did not go down"
        assert 1 <= metrics[f"{name}_best_epoch"] <= 3
        # The book's run of each model (section 4.4), kept beside this one's.
        book = metrics["book_history"]["histories"][name]
        assert book["history"] == book_curves.book_history("fundamentals", name)["history"]
        assert book["this_run_examples_per_epoch"] == 480  # 60% of the 800 sample reviews


def test_comparison_plots_draw_the_book_s_runs_by_reviews_seen(smoke_run):
    completed, _ = smoke_run("overfitting")
    size, l2, dropout = completed.figures
    assert size["title"] == "IMDB: original vs smaller vs bigger"
    for figure, names in ((size, ("original", "smaller", "bigger")), (l2, ("original", "l2")),
                          (dropout, ("original", "dropout"))):
        drawn = book_curves_drawn(figure)
        for name in names:
            book = book_curves.book_history("fundamentals", name)["history"]
            for panel, key in (("Validation loss", "val_loss"), ("Training loss", "loss")):
                seen, values = drawn[(panel, f"{name} (book, 1st ed.)")]
                assert values == book[key]
                assert seen[:2] == [25.0, 50.0]  # thousands of reviews: the book's 25,000 a time
        assert "validated on the 25,000 test reviews" in figure["caption"]
