"""Every mistake a reader can make ends in one clear line and exit code 2, never a traceback.

Each test runs the real script as a subprocess on data it makes itself, then checks the exit
code, that the message names the thing (path, file, flag and its range) and says what to do,
that no "Traceback" was printed, and that nothing of the reader's was changed.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

import make_images
from conftest import FILES, REPO_ROOT, read_metrics, result_fields, run_script


def assert_input_error(result, *needles):
    """Exit 2, the last stderr line is `error: ...` naming every needle, no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    message = result.stderr.strip().splitlines()[-1]  # after TensorFlow's start-up lines
    assert message.startswith("error:"), result.stderr[-3000:]
    for needle in needles:
        assert str(needle) in message, (needle, message)
    assert "Epoch 1/" not in output  # refused before any training
    return message


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
    import helpers

    final = tmp_path / "metrics.json"
    final.write_text('{"test_accuracy": 0.97}\n')

    def fails_halfway(partial):
        partial.write_text('{"test_acc')  # half a file, then the run dies
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        helpers.save_atomically(final, fails_halfway)
    assert final.read_text() == '{"test_accuracy": 0.97}\n'  # the earlier, complete file
    helpers.save_atomically(final, lambda partial: partial.write_text("{}\n"))
    assert final.read_text() == "{}\n"
    assert [path.name for path in tmp_path.iterdir()] == ["metrics.json"]
    assert helpers.save_atomically(tmp_path / "model.keras", lambda partial: partial.write_text(
        "x")).name == "model.keras"  # the suffix Keras checks is kept on the temporary name


# --- Picture folders ---------------------------------------------------------------------


def test_a_picture_that_does_not_decode_is_skipped_and_counted(pictures, tmp_path):
    broken = pictures / "train" / "dogs" / sorted(os.listdir(pictures / "train" / "dogs"))[0]
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # a truncated JPEG
    (pictures / "test" / "cats" / "notes.jpg").write_text("not a picture")
    before = snapshot(pictures)
    result = convnet("scratch", "--smoke", "--epochs", "1", "--data-dir", pictures.parent,
                     "--output-dir", tmp_path / "runs")
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert any(str(broken) in line for line in warnings)
    assert "skipped 1 pictures" in result.stdout
    assert result_fields(result.stdout)["skipped_pictures"] == "2"
    assert read_metrics(tmp_path / "runs" / "scratch")["skipped_pictures"] == 2
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


@pytest.mark.parametrize("script, args, flag, allowed", [
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


# --- Ctrl-C ------------------------------------------------------------------------------


def test_ctrl_c_ends_in_one_line_and_exit_130(tmp_path):
    # Not --smoke, which caps the epochs at 3: 1000 epochs of 100 batches of one picture
    # train until interrupted, and the signal comes in the middle of epoch 2, where a
    # reader's Ctrl-C almost always lands. (Between epochs Python may be inside an object's
    # __del__, where an interrupt is only reported as "Exception ignored".) The script gets
    # SIGINT's default disposition, as under a terminal, whoever started the tests.
    make_images.make_split_folders(tmp_path / "data", splits={"train": 50, "validation": 4,
                                                               "test": 4})
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, str(FILES / "convnet.py"), "scratch", "--epochs", "1000",
         "--batch-size", "1", "--image-size", "48", "--data-dir", str(tmp_path / "data"),
         "--output-dir", str(tmp_path)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environment, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in process.stdout:  # wait until training has begun
        if line.startswith("Epoch 2/"):
            break
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert not (tmp_path / "scratch" / "model.keras").exists()  # nothing looks complete
    assert not (tmp_path / "scratch" / "metrics.json").exists()
