"""Unit tests of files/support/command_line.py (the common flags, --smoke, `run`'s exit
codes) and files/support/output_folder.py (one run per output folder)."""

import argparse
import sys

from support import command_line, errors, output_folder, smoke

import pytest

# ---- The common flags ---------------------------------------------------------------------


def test_parser_defaults_and_smoke(tmp_path):
    parser = command_line.make_parser("demo", "Demo.", epochs=20, batch_size=512)
    args = command_line.parse_args(parser, [])
    assert (args.epochs, args.batch_size, args.seed, args.smoke) == (20, 512, 42, False)
    assert args.output_dir == command_line.REPO_ROOT / "runs" / "demo"
    args = command_line.parse_args(parser, ["--smoke", "--output-dir", str(tmp_path)],
                                   smoke_limits={"epochs": 3})
    assert args.epochs == 3 and args.data_dir == smoke.SAMPLE_DATA_DIR
    assert args.output_dir == tmp_path


def test_smoke_limits_hold_flags_to_a_bound_or_a_range():
    args = argparse.Namespace(epochs=20, folds=4, kfold_batch_size=1, data_dir=None)
    smoke.apply(args, {"epochs": 3, "folds": 2, "kfold_batch_size": (16, None)})
    assert vars(args) == {"epochs": 3, "folds": 2, "kfold_batch_size": 16,
                          "data_dir": smoke.SAMPLE_DATA_DIR}
    smoke.apply(args, {"epochs": 5}, sample_data=False)  # already below: kept
    assert args.epochs == 3


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "x"])
def test_positive_int_rejects(value):
    parser = command_line.make_parser("demo", "Demo.", epochs=20, batch_size=512)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--batch-size", value])
    assert exit_info.value.code == 2



# ---- run: the reader's mistakes are one line --------------------------------------------


def test_run_turns_data_unavailable_into_exit_2(capsys):
    def main():
        raise errors.DataUnavailable("mnist.npz not found")

    with pytest.raises(SystemExit) as exit_info:
        command_line.run(main)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: mnist.npz not found\n"


# ---- One run per output folder ------------------------------------------------------------

# Another run holding the folder's lock, as output_folder.lock_output_dir takes it (an flock
# on OUTPUT_DIR/.lock, the holder's process number in it), without importing TensorFlow.
HOLDS_THE_LOCK = """
import fcntl, os, pathlib, time
pathlib.Path({folder!r}).mkdir(parents=True, exist_ok=True)
lock = open(pathlib.Path({folder!r}) / ".lock", "a+")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
lock.truncate(0)
lock.write(str(os.getpid()))
lock.flush()
print("holding", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the holder takes the lock with fcntl "
                    "(POSIX); Windows' msvcrt path: tests/test_windows_and_languages.py")
def test_a_second_run_on_the_same_folder_ends_at_once(tmp_path, capsys):
    import subprocess
    import sys

    folder = tmp_path / "augment"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDS_THE_LOCK.format(folder=str(folder))],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        with pytest.raises(SystemExit) as exit_info:
            command_line.run(lambda: output_folder.prepare_output_dir(folder))
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == (
            f"error: another run (process {holder.pid}) is writing to {folder}: wait for it "
            f"to end, or pass another --output-dir\n")
        # Another folder, even one inside it (reproduce.py's examples), is not locked.
        command_line.run(lambda: output_folder.prepare_output_dir(folder / "examples"))
    finally:
        holder.kill()  # as SIGKILL or a power cut ends a run: its lock goes with it
        holder.wait()
    command_line.run(lambda: output_folder.prepare_output_dir(folder))
    assert capsys.readouterr().out == (
        f"note: taking over {folder}: process {holder.pid}, which wrote there, ended without "
        f"releasing it\n")
    # Released at the end of the run: the next run takes it without a word.
    command_line.run(lambda: output_folder.prepare_output_dir(folder))
    assert capsys.readouterr().out == "" and (folder / ".lock").read_text() == ""


def test_runs_one_after_the_other_in_one_process_share_the_lock(tmp_path):
    output_folder.prepare_output_dir(tmp_path)
    output_folder.prepare_output_dir(tmp_path)  # (the tests call main() directly)
    output_folder.release_output_dirs()
