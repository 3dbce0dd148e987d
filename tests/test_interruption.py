"""Ctrl-C (files/interruption.py): every script stops with exit code 130 and `interrupted`
as its last line, wherever the signal lands, even when a library loses the first
KeyboardInterrupt; a second Ctrl-C ends the process at once.

The processes start as a terminal starts them: their own process group, SIGINT at its
default and no signal blocked, whatever the test process has set, and SIGINT goes to the
whole group, as a terminal's Ctrl-C does. Each waits with a time cap: a run that does not
stop is a failure, never a hang."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import make_images
from conftest import FILES, REPO_ROOT, process_environment

STOP_WITHIN = 10  # seconds from the signal; the runs here stop within about one


def as_a_terminal_starts_it():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def start(command):
    return subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=process_environment({"PYTHONUNBUFFERED": "1"}), start_new_session=True,
        preexec_fn=as_a_terminal_starts_it)


def wait_for_line(process, prefix, timeout):
    """Read stdout until a line starts with `prefix`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        line = process.stdout.readline() if ready else ""
        if line.startswith(prefix):
            return
        if ready and not line:
            break  # the process closed its output
    process.kill()
    raise AssertionError(f"no line starting {prefix!r} within {timeout} s: "
                         f"{process.communicate()[1][-2000:]}")


def ctrl_c(process):
    os.killpg(process.pid, signal.SIGINT)
    return time.monotonic()


def assert_interrupted(process, sent, timeout=STOP_WITHIN):
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"still running {timeout} s after Ctrl-C") from None
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    return time.monotonic() - sent


def test_ctrl_c_from_outside_stops_a_training_run(tmp_path):
    # The script as a reader runs it, interrupted in epoch 2's training batches (1000 epochs
    # of 50 batches of one picture would otherwise train for an hour).
    make_images.make_split_folders(tmp_path / "data", splits={"train": 50, "validation": 4,
                                                               "test": 4})
    process = start([sys.executable, str(FILES / "convnet.py"), "scratch", "--epochs", "1000",
                     "--batch-size", "1", "--image-size", "48", "--data-dir",
                     str(tmp_path / "data"), "--output-dir", str(tmp_path)])
    wait_for_line(process, "Epoch 2/", timeout=120)
    time.sleep(0.2)
    assert_interrupted(process, ctrl_c(process))
    assert not (tmp_path / "scratch" / "model.keras").exists()  # nothing looks complete
    assert not (tmp_path / "scratch" / "metrics.json").exists()


def test_ctrl_c_at_every_moment_a_reader_meets(tmp_path):
    # tests/interrupt_harness.py sends the signal from inside the process at fixed moments:
    # inside a training batch, during validation, between epochs, with the first
    # KeyboardInterrupt lost (in C code that clears it, in a __del__), during VGG16's
    # feature extraction, between Boston's folds and during prepare's copy.
    process = start([sys.executable, str(REPO_ROOT / "tests" / "interrupt_harness.py"),
                     str(tmp_path)])
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"the harness did not end: {process.communicate()}") from None
    assert process.returncode == 0, stderr[-3000:]
    runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert len(runs) == 8
    for run in runs:
        assert (run["moment"], run["code"], run["last_line"], run["signals"]) == (
            run["moment"], 130, "interrupted", 1), run["stderr"][-2000:]
        assert "Traceback" not in run["stderr"] and "Exception ignored" not in run["stderr"]
        assert run["seconds"] < STOP_WITHIN, run["moment"]
    lost = [run for run in runs if run["moment"].startswith("lost")]
    assert [run["seconds"] > 0.9 for run in lost] == [True, True]  # stopped by the repeat


SWALLOWS_EVERY_INTERRUPT = f"""
import sys, time
sys.path.insert(0, {str(FILES)!r})
import interruption


class Sink:
    def __del__(self):  # an interrupt in here is only reported (and that report silenced)
        try:
            print("waiting", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            print("swallowed", flush=True)
            time.sleep(60)


with interruption.stopping_on_ctrl_c():
    while True:
        Sink()
"""


def test_a_second_ctrl_c_ends_the_process_at_once():
    # Code where every KeyboardInterrupt is lost (here a __del__) would keep the first
    # Ctrl-C, and its repeats, from ever stopping it: the second one ends the process.
    process = start([sys.executable, "-c", SWALLOWS_EVERY_INTERRUPT])
    wait_for_line(process, "waiting", timeout=30)
    ctrl_c(process)
    wait_for_line(process, "swallowed", timeout=30)
    assert assert_interrupted(process, ctrl_c(process)) < STOP_WITHIN


def test_an_exception_after_ctrl_c_is_reported_as_interrupted():
    # A library that turns the KeyboardInterrupt into another exception on its way up.
    code = (f"import sys; sys.path.insert(0, {str(FILES)!r}); import command_line, os, signal\n"
            "def main():\n"
            "    try:\n"
            "        os.killpg(os.getpgrp(), signal.SIGINT)\n"
            "    except KeyboardInterrupt as error:\n"
            "        raise RuntimeError('a library error') from error\n"
            "command_line.run(main)\n")
    process = start([sys.executable, "-c", code])
    assert_interrupted(process, time.monotonic(), timeout=60)
