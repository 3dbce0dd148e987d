"""Every mistake a reader can make ends in one clear line and exit code 2, never a traceback.

Each test runs the real script in the test process (`run_script`: its `main(argv)` through
command_line.run, as `python files/<script>.py` runs it) on data it makes itself, then checks
the exit code, that the message names the thing (path, file, flag and its range) and says
what to do, that no "Traceback" was printed, and that nothing of the reader's was changed.
"""

import errno
import json
import os
from pathlib import Path

from support import command_line, errors

import numpy as np
import pytest

import make_images
from harness import (
    assert_input_error,
    fake_kagglehub,
    run_convnet,
    run_script,
)


def snapshot(folder):
    """Every file under `folder` with its bytes and modification time."""
    return {path: (path.stat().st_mtime_ns, path.read_bytes())
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def pictures(tmp_path):
    """A small cats_and_dogs_small split the test may break."""
    make_images.make_split_folders(tmp_path / "data", splits={"train": 8, "validation": 4,
                                                               "test": 4})
    return tmp_path / "data" / "cats_and_dogs_small"


def convnet(stage, *args):
    return run_script("convnet", stage, "--verbose", "0", *args)


# --- Output folders ----------------------------------------------------------------------


@pytest.mark.parametrize("script, args", [
    ("mnist", ["--smoke"]),
    ("convnet", ["scratch", "--smoke"]),
])
def test_a_file_where_the_output_folder_should_be(script, args, tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("my notes\n")
    result = run_script(script, *args, "--output-dir", blocker)
    assert_input_error(result, blocker, "--output-dir")
    assert blocker.read_text() == "my notes\n"  # the reader's file is untouched


def test_a_read_only_output_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        target = folder / "runs"
        if os.access(folder, os.W_OK):  # root writes into read-only folders anyway
            if not os.path.isdir("/sys/kernel"):
                pytest.skip("running as root, and no read-only /sys to try instead")
            target = "/sys/dlwp-examples-test/runs"  # sysfs: not even root creates folders
        result = run_script("mnist", "--smoke", "--output-dir", target)
        assert_input_error(result, target, "cannot be created or written", "--output-dir")
    finally:
        folder.chmod(0o700)


def test_metrics_and_models_are_written_under_a_temporary_name_first(tmp_path):
    from support import outputs

    final = tmp_path / "metrics.json"
    final.write_text('{"test_accuracy": 0.97}\n')

    def fails_halfway(partial):
        partial.write_text('{"test_acc')  # half a file, then the run dies
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        outputs.save_atomically(final, fails_halfway)
    assert final.read_text() == '{"test_accuracy": 0.97}\n'  # the earlier, complete file
    outputs.save_atomically(final, lambda partial: partial.write_text("{}\n"))
    assert final.read_text() == "{}\n"
    assert [path.name for path in tmp_path.iterdir()] == ["metrics.json"]
    assert outputs.save_atomically(tmp_path / "model.keras", lambda partial: partial.write_text(
        "x")).name == "model.keras"  # the suffix Keras checks is kept on the temporary name


# --- Picture folders ---------------------------------------------------------------------


def test_a_picture_that_does_not_decode_is_skipped_and_counted(pictures, capsys):
    from support import picture_pipeline

    broken = pictures / "train" / "dogs" / sorted(os.listdir(pictures / "train" / "dogs"))[0]
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # a truncated JPEG
    (pictures / "test" / "cats" / "notes.jpg").write_text("not a picture")
    before = snapshot(pictures)
    loaded = picture_pipeline.load_pictures(pictures.parent, 48, 4, seed=0)
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert any(str(broken) in line for line in warnings)
    assert "skipped 1 pictures" in out
    # The count every image stage reports (RESULT and metrics.json: test_checkpoints.py's
    # test of the best epoch's results).
    assert loaded.skipped == 2
    assert sum(1 for _ in loaded.test.unbatch()) == 2 * 4  # without notes.jpg
    assert snapshot(pictures) == before  # the reader's pictures are never changed


def test_an_empty_class_folder_is_refused(pictures, tmp_path):
    for picture in (pictures / "train" / "dogs").iterdir():
        picture.unlink()
    before = snapshot(pictures)
    result = convnet("augment", "--smoke", "--data-dir", pictures.parent,
                     "--output-dir", tmp_path / "runs")
    assert_input_error(result, pictures / "train" / "dogs", "no usable pictures",
                       "no .jpg, .jpeg, .png, .gif, .bmp files in it", "prepare")
    assert snapshot(pictures) == before


def test_a_missing_class_folder_is_refused(pictures, tmp_path):
    (pictures / "validation" / "cats").rename(pictures / "validation" / "Cats-old")
    result = convnet("features", "--smoke", "--weights", "none", "--data-dir",
                     pictures.parent, "--output-dir", tmp_path / "runs")
    assert_input_error(result, pictures / "validation" / "cats", "missing", "dogs/")


def test_a_class_whose_pictures_all_fail_to_decode_is_refused(pictures, tmp_path):
    for picture in (pictures / "test" / "cats").iterdir():
        picture.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    result = convnet("scratch", "--smoke", "--data-dir", pictures.parent,
                     "--output-dir", tmp_path / "runs")
    assert_input_error(result, pictures / "test" / "cats", "no usable pictures",
                       "none of its 4 pictures decode")


def test_a_split_missing_from_the_data_folder(pictures, tmp_path):
    (pictures / "test").rename(pictures / "test-old")
    result = convnet("scratch", "--data-dir", pictures.parent, "--output-dir", tmp_path / "r")
    assert_input_error(result, "no cats_and_dogs_small/", "validation/ and test/", "prepare")


# --- Flag values -------------------------------------------------------------------------
# The one place for "an impossible flag value is a usage error, exit code 2": each script's
# own flags and some common ones through the real scripts (the common flags' checks are
# unit-tested in test_command_line.py).


@pytest.mark.parametrize("script, args, flag, allowed", [
    ("mnist", ["--epochs", "0"], "--epochs", "at least 1"),
    ("reuters", ["--batch-size", "-3"], "--batch-size", "at least 1"),
    ("fundamentals", ["--experiment", "nope"], "--experiment", "invalid choice: 'nope'"),
    ("fundamentals", ["--no-such-flag"], "--no-such-flag", "unrecognized arguments"),
    ("tensors", ["--section", "nope"], "--section", "invalid choice: 'nope'"),
    ("tensors", ["--learning-rate", "0"], "--learning-rate", "0"),
    ("tensors", ["--learning-rate", "fast"], "--learning-rate", "fast"),
    ("reproduce", ["--only", "mnist,cifar10"], "--only", "unknown example cifar10"),
    ("convnet", ["scratch", "--image-size", "20"], "--image-size", "from 46 to 1024"),
    ("convnet", ["features", "--image-size", "31"], "--image-size", "from 32 to 1024"),
    ("convnet", ["visualize", "--filters", "65"], "--filters", "from 1 to 64"),
    ("convnet", ["augment", "--steps-per-epoch", "0"], "--steps-per-epoch", "at least 1"),
    ("mnist", ["--seed", "-1"], "--seed", "from 0 to 4294967295"),
    ("bostonhousing", ["--folds", "1"], "--folds", "at least 2"),
])
def test_impossible_flag_values_are_usage_errors(script, args, flag, allowed):
    result = run_script(script, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert flag in message and allowed in message, message
    assert "usage:" in result.stderr


def test_more_folds_than_samples_is_a_usage_error(tmp_path, sample_data_dir):
    result = run_script("bostonhousing", "--data-dir", sample_data_dir, "--folds", "5000",
                        "--output-dir", tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--folds: must be at most the" in result.stderr


def test_the_help_states_each_range():
    result = run_script("convnet", "scratch", "--help")
    text = " ".join(result.stdout.split())
    assert "46 to 1024 (the network needs at least 46)" in text
    assert "0 to 2**32-1" in text


# --- Reading what an earlier run wrote ----------------------------------------------------


@pytest.fixture(scope="module")
def earlier_runs(tmp_path_factory):
    """Models of the kinds scratch and features-augment save, where finetune and visualize
    look for them: scratch's own convnet, and a classifier around an untrained VGG16 base at
    the smallest size (not trained: these tests damage or swap them)."""
    from support import vgg16_weights

    import keras

    import convnet

    runs = tmp_path_factory.mktemp("earlier")
    for stage in ("scratch", "features-augment"):
        (runs / stage).mkdir()
    scratch = convnet.build_small_convnet(48, 1e-4)
    scratch.optimizer.build(scratch.trainable_variables)  # its state, as training leaves it
    scratch.save(runs / "scratch" / "model.keras")
    keras.Sequential([keras.Input((32, 32, 3)), vgg16_weights.load_vgg16("none", 32),
                      keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")]
                     ).save(runs / "features-augment" / "model.keras")
    return runs


def copy_runs(earlier, tmp_path):
    import shutil

    return Path(shutil.copytree(earlier, tmp_path / "runs"))


def run_in_process(main, argv, capsys):
    """command_line.run(main(argv)) in this process: (exit code, stdout, stderr)."""
    from support import command_line

    with pytest.raises(SystemExit) as exit_info:
        command_line.run(lambda: main(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize("damage, needle", [
    (lambda path: path.write_bytes(b"PK\x03\x04 half a zip"), "is not a model Keras can load"),
    (lambda path: path.write_text("name,score\ncat,1\n"), "is not a model Keras can load"),
    (lambda path: path.chmod(0o000), None),  # unreadable (root reads it anyway)
])
def test_finetune_with_a_damaged_model_file(damage, needle, earlier_runs, tmp_path, capsys):
    import convnet

    runs = copy_runs(earlier_runs, tmp_path)
    model = runs / "features-augment" / "model.keras"
    damage(model)
    if needle is None and os.access(model, os.R_OK):
        model.chmod(0o600)
        pytest.skip("running as root: an unreadable file reads anyway")
    code, _, err = run_in_process(convnet.main, ["finetune", "--smoke", "--output-dir",
                                                 str(runs)], capsys)
    message = err.strip().splitlines()[-1]
    assert code == 2 and message.startswith("error:") and "Traceback" not in err
    assert str(model) in message and "python files/convnet.py features-augment" in message
    assert needle is None or needle in message


def test_finetune_with_another_stage_s_model(earlier_runs, tmp_path, capsys):
    import shutil

    import convnet

    runs = copy_runs(earlier_runs, tmp_path)
    shutil.copy(runs / "scratch" / "model.keras", runs / "features-augment" / "model.keras")
    code, _, err = run_in_process(convnet.main, ["finetune", "--smoke", "--output-dir",
                                                 str(runs)], capsys)
    message = err.strip().splitlines()[-1]
    assert code == 2 and "is not the model features-augment saves (it has no VGG16 base)" \
        in message and "convnet.py features-augment" in message


def test_finetune_with_a_damaged_metrics_file(earlier_runs, tmp_path, capsys):
    import convnet

    runs = copy_runs(earlier_runs, tmp_path)
    (runs / "features-augment" / "metrics.json").write_text('{"weights": "imag')
    code, _, err = run_in_process(convnet.main, ["finetune", "--smoke", "--output-dir",
                                                 str(runs)], capsys)
    message = err.strip().splitlines()[-1]
    assert code == 2 and str(runs / "features-augment" / "metrics.json") in message
    assert "cannot be read" in message and "convnet.py features-augment" in message


def test_visualize_with_a_foreign_or_damaged_scratch_model(earlier_runs, tmp_path, capsys):
    import keras

    import convnet

    runs = copy_runs(earlier_runs, tmp_path)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    dense.save(runs / "scratch" / "model.keras")  # a Keras model, but not a convnet
    argv = ["visualize", "--smoke", "--weights", "none", "--output-dir", str(runs)]
    code, _, err = run_in_process(convnet.main, argv, capsys)
    assert code == 2 and "is not the model scratch saves (its input is (None, 4)" in err
    (runs / "scratch" / "model.keras").write_bytes(b"")
    code, _, err = run_in_process(convnet.main, argv, capsys)
    message = err.strip().splitlines()[-1]
    assert code == 2 and "is not a model Keras can load" in message
    assert "python files/convnet.py scratch" in message


def test_a_damaged_earlier_metrics_file_names_the_stage_that_writes_it(tmp_path):
    from support import stage_models

    damaged = tmp_path / "metrics.json"
    damaged.write_text("[1, 2")
    with pytest.raises(errors.DataUnavailable, match="convnet.py scratch"):
        stage_models.read_stage_metrics(damaged, "scratch")
    assert stage_models.read_stage_metrics(tmp_path / "none.json", "scratch") == {}


def test_reproduce_with_a_damaged_results_file_still_runs(tmp_path, capsys):
    import reproduce

    (tmp_path / "results.json").write_text("\x00\x01 not json")
    folder = tmp_path / "examples" / "seed42" / "mnist"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "test_accuracy": 0.97, "seconds": 9.0, "settings": {
            "seed": 42, "smoke": False, "data_dir": "d", "epochs": 5}}))
    reproduce.main(["--only", "mnist", "--reuse", "--data-dir", "d", "--output-dir",
                    str(tmp_path)])
    out = capsys.readouterr().out
    assert "could not be read" in out and "RESULT script=reproduce examples=1" in out
    assert json.loads((tmp_path / "results.json").read_text())["rows"][0]["measured"] == 0.97


# --- Writing outputs when the disk is full, or the folder changes under the run ----------


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.training
def test_no_space_for_metrics_keeps_the_earlier_run_s_file(tmp_path, monkeypatch, capsys):
    import mnist

    argv = ["--smoke", "--epochs", "1", "--output-dir", str(tmp_path), "--verbose", "0"]
    earlier = '{"script": "mnist", "test_accuracy": 0.97, "settings": {"epochs": 5}}'
    (tmp_path / "metrics.json").write_text(earlier)  # what an earlier run left
    before = (tmp_path / "metrics.json").read_bytes()
    monkeypatch.setattr(Path, "write_text", no_space)
    code, out, err = run_in_process(mnist.main, argv, capsys)
    message = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err and "RESULT" not in out
    assert message == (f"error: could not write {tmp_path / 'metrics.json'} (No space left "
                       f"on device); files of earlier runs are kept as they were. Make room or "
                       f"fix the folder (or pass --output-dir elsewhere) and run again.")
    monkeypatch.undo()
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert not list(tmp_path.glob("*.partial*"))


@pytest.mark.training
def test_no_space_for_a_checkpoint_during_training(tmp_path, monkeypatch, capsys):
    import keras

    import convnet

    monkeypatch.setattr(keras.Model, "save", no_space)  # ModelCheckpoint saves with it
    code, out, err = run_in_process(convnet.main, [
        "scratch", "--smoke", "--epochs", "1", "--output-dir", str(tmp_path), "--verbose", "0"],
        capsys)
    assert code == 2 and "Traceback" not in err
    assert "No space left on device" in err.strip().splitlines()[-1]
    assert not (tmp_path / "scratch" / "model.keras").exists()
    assert not (tmp_path / "scratch" / "metrics.json").exists()


def test_a_folder_removed_during_the_run_is_one_line_but_a_bug_keeps_its_traceback(tmp_path):
    from support import command_line, output_folder, outputs

    folder = output_folder.prepare_output_dir(tmp_path / "runs")
    gone = OSError(errno.ENOENT, "No such file or directory", str(folder / "training.png"))
    assert "could not write" in outputs.write_failure(gone)
    elsewhere = OSError(errno.ENOENT, "No such file or directory", "/nonexistent/dlwp.txt")
    assert outputs.write_failure(elsewhere) is None  # not an output: possibly a bug

    def bug():
        raise elsewhere

    with pytest.raises(OSError):
        command_line.run(bug)
    with pytest.raises(SystemExit) as exit_info:
        command_line.run(lambda: (_ for _ in ()).throw(gone))
    assert exit_info.value.code == 2


@pytest.mark.parametrize("script", ["bostonhousing", "tensors"])
def test_their_plots_are_written_under_a_temporary_name_first(script, tmp_path, monkeypatch):
    # Like every other output: an interrupted savefig leaves the earlier plot as it was.
    import matplotlib.figure
    import numpy as np

    module = __import__(script)
    plot, name = ((lambda: module.plot_validation_curve(np.linspace(3, 2, 30),
                                                         tmp_path / "validation_mae.png"),
                   "validation_mae.png") if script == "bostonhousing" else
                  (lambda: module.show_tensors(np.zeros((5, 28, 28), "uint8"), tmp_path),
                   "digits.png"))
    (tmp_path / name).write_bytes(b"the earlier run's plot")

    def fails_halfway(figure, path, **kwargs):
        Path(path).write_bytes(b"half a PNG")
        raise KeyboardInterrupt

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", fails_halfway)
    with pytest.raises(KeyboardInterrupt):
        plot()
    assert (tmp_path / name).read_bytes() == b"the earlier run's plot"
    monkeypatch.undo()
    plot()
    assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


# ---- files/support/errors.py: one kind of error for the reader's mistakes ----------------


def test_a_missing_dataset_is_an_input_error():
    assert issubclass(errors.DataUnavailable, errors.InputError)
    assert not issubclass(errors.InputError, (OSError, ValueError))  # never a bug's kind


@pytest.mark.parametrize("error, reason", [
    (OSError(2, "No such file or directory"), "[Errno 2] No such file or directory"),
    (ValueError("not a zip archive\nmore detail"), "not a zip archive"),
    (KeyError(), "KeyError"),
])
def test_the_reason_is_the_message_s_first_line(error, reason):
    assert errors.error_reason(error) == reason


# ---- Missing or damaged data, a missing source, download or weights file ----------------


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


def test_prepare_missing_source_fails_clearly(tmp_path):
    result = run_convnet("prepare", "--source", tmp_path / "nowhere",
                         "--data-dir", tmp_path, "--output-dir", tmp_path / "runs")
    assert result.returncode == 2
    assert "error:" in result.stderr and "kaggle" in result.stderr.lower()
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "cats_and_dogs_small").exists()


def assert_clear_exit_2(result, *needles):
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]  # after TensorFlow's start-up lines
    assert message.startswith("error:"), result.stderr
    for needle in needles:
        assert needle in message, (needle, message)


KAGGLE_NEEDLES = ('pip install ".[kaggle]"', "kaggle.json", "KAGGLE_USERNAME", "rules",
                  "--source")


def test_prepare_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    def unauthorized(handle):
        raise RuntimeError("401 Client Error: Unauthorized for dogs-vs-cats")

    fake_kagglehub(monkeypatch, unauthorized)
    result = run_script("convnet", "prepare", "--download", "kaggle", "--data-dir", tmp_path,
                        "--output-dir", tmp_path / "runs", "--verbose", "0")
    assert_clear_exit_2(result, "401 Client Error", "kagglehub", *KAGGLE_NEEDLES)
    assert not (tmp_path / "cats_and_dogs_small").exists()


def test_prepare_without_kagglehub_says_how_to_get_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "kagglehub", None)  # `import kagglehub` fails
    result = run_script("convnet", "prepare", "--download", "kaggle", "--data-dir", tmp_path,
                        "--output-dir", tmp_path / "runs", "--verbose", "0")
    assert_clear_exit_2(result, "needs the kagglehub package", *KAGGLE_NEEDLES,
                        "--download microsoft")


def test_missing_weights_file_exits_2(tmp_path, capsys):

    import convnet

    argv = ["features", "--smoke", "--weights", str(tmp_path / "nonexistent.h5"),
            "--output-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        command_line.run(lambda: convnet.main(argv))
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "nonexistent.h5" in message and "--weights none" in message
