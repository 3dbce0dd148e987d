"""The chapter 2-3 scripts end to end: each one's --smoke run as a reader starts it
(`python files/<name>.py`, a real process), the rest in this process through main(argv)."""

import numpy as np
import pytest

from conftest import (
    assert_finite_numbers,
    assert_png,
    read_metrics,
    result_fields,
    run_process,
    run_script,
)

# script -> (headline keys on the RESULT line, plots it must write)
SCRIPTS = {
    "mnist": (["test_accuracy", "test_loss", "seconds"], ["training.png"]),
    "imdb": (["test_accuracy", "test_loss", "seconds"], ["validation.png"]),
    "reuters": (["test_accuracy", "test_loss", "random_baseline_accuracy", "seconds"],
                ["validation.png"]),
    "bostonhousing": (["test_mae", "kfold_mae", "seconds"],
                      ["validation_mae.png", "final_training.png"]),
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Run each script's smoke mode once per test module; tests then read its outputs."""
    runs = {}

    def run(script):
        if script not in runs:
            output_dir = tmp_path_factory.mktemp(script)
            done = run_process(script, "--smoke", "--verbose", "0", "--output-dir", output_dir)
            runs[script] = (done, output_dir)
        return runs[script]

    return run


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_smoke_run_trains_and_writes_its_outputs(script, smoke_run):
    keys, plots = SCRIPTS[script]
    done, output_dir = smoke_run(script)
    assert done.returncode == 0, done.stderr[-3000:]

    fields = result_fields(done.stdout)
    assert fields["script"] == script
    for key in keys:
        assert key in fields, f"RESULT line lacks {key}: {fields}"

    metrics = read_metrics(output_dir)
    assert metrics["script"] == script
    assert_finite_numbers(metrics, keys)
    for key in keys:  # the RESULT line and metrics.json agree
        assert float(fields[key]) == pytest.approx(metrics[key], abs=0.051)
    loss = metrics["history"]["loss"]
    assert len(loss) >= 2 and np.all(np.isfinite(loss))
    assert loss[-1] < loss[0], f"training loss did not go down: {loss}"
    for plot in plots:
        assert_png(output_dir / plot)


def test_smoke_classifier_beats_chance(smoke_run):
    # The sample data is learnable: even a few epochs do clearly better than guessing.
    done, _ = smoke_run("imdb")
    assert float(result_fields(done.stdout)["test_accuracy"]) > 0.6
    assert "first review, decoded: ? " in done.stdout


def test_reuters_compares_with_random_guessing(smoke_run):
    done, _ = smoke_run("reuters")
    fields = result_fields(done.stdout)
    assert float(fields["test_accuracy"]) > float(fields["random_baseline_accuracy"])


def test_bostonhousing_reports_folds_and_dollars(smoke_run):
    done, output_dir = smoke_run("bostonhousing")
    metrics = read_metrics(output_dir)
    assert len(metrics["fold_maes"]) == metrics["settings"]["folds"]
    assert metrics["kfold_mae"] == pytest.approx(np.mean(metrics["fold_maes"]), rel=1e-4)
    assert len(metrics["average_val_mae_per_epoch"]) == metrics["settings"]["curve_epochs"]
    assert metrics["test_mae_dollars"] == round(metrics["test_mae"] * 1000)
    assert "predictions are off by about $" in done.stdout


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_names_the_chapter_and_the_common_flags(script):
    done = run_script(script, "--help")
    assert done.returncode == 0
    assert "Chapter" in done.stdout
    for flag in ("--epochs", "--batch-size", "--seed", "--data-dir", "--output-dir", "--smoke",
                 "--verbose"):
        assert flag in done.stdout


# Every value check is unit-tested in test_helpers.py; here two go through a real script.
@pytest.mark.parametrize("script, flags, message", [
    ("mnist", ["--epochs", "0"], "must be at least 1"),
    ("reuters", ["--batch-size", "-3"], "must be at least 1"),
])
def test_bad_flag_values_are_usage_errors(script, flags, message):
    done = run_script(script, *flags)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("script, missing", [
    ("mnist", "mnist.npz"),
    ("imdb", "imdb.npz"),
    ("reuters", "reuters.npz"),
    ("bostonhousing", "boston_housing.npz"),
])
def test_missing_data_file_exits_2_with_a_clear_message(script, missing, tmp_path):
    done = run_script(script, "--data-dir", tmp_path, "--output-dir", tmp_path / "out")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert str(tmp_path / missing) in done.stderr
    assert "--data-dir" in done.stderr
    assert "tf-keras-datasets" in done.stderr  # where the file comes from


def test_missing_word_index_is_named(tmp_path, sample_data_dir):
    (tmp_path / "imdb.npz").write_bytes((sample_data_dir / "imdb.npz").read_bytes())
    done = run_script("imdb", "--data-dir", tmp_path, "--validation-size", "100",
                      "--output-dir", tmp_path / "out")
    assert done.returncode == 2
    assert "imdb_word_index.json" in done.stderr
    assert "Traceback" not in done.stderr


def test_wrong_arrays_in_npz_exit_2(tmp_path):
    np.savez(tmp_path / "mnist.npz", images=np.zeros((2, 28, 28)))
    done = run_script("mnist", "--data-dir", tmp_path, "--output-dir", tmp_path / "out")
    assert done.returncode == 2
    assert "x_train" in done.stderr and "images" in done.stderr
    assert "Traceback" not in done.stderr


def test_data_dir_from_environment(tmp_path):
    done = run_script("mnist", "--output-dir", tmp_path / "out",
                      env={"DLWP_DATA_DIR": str(tmp_path / "nowhere")})
    assert done.returncode == 2
    assert str(tmp_path / "nowhere" / "mnist.npz") in done.stderr
