"""Stop signals (files/support/stop_signals.py, files/support/checkpoints.py): every script stops
on Ctrl-C, SIGTERM and SIGHUP with exit code 128 + the signal's number and `interrupted` as its
last line, wherever the signal lands, even when a library loses the first KeyboardInterrupt; a
second signal ends the process at once. A training stage stopped at any moment, SIGKILL
included, goes on after its last finished epoch when run again.

The processes start as a terminal starts them: their own process group, the stop signals at
their defaults and no signal blocked, whatever the test process has set, and SIGINT goes to the
whole group, as a terminal's Ctrl-C does. Each waits with a time cap: a run that does not stop
is a failure, never a hang."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from harness import FILES, REPO_ROOT, process_environment, read_metrics, run_script

# Processes started as a POSIX terminal starts them (process groups, SIGHUP, select on pipes);
# Windows' Ctrl-Break: tests/test_windows_and_languages.py.
pytestmark = [pytest.mark.skipif(not hasattr(signal, "SIGHUP") or not hasattr(os, "killpg"),
                                 reason="POSIX only: SIGHUP, process groups, killpg"),
              pytest.mark.training]  # trains models: left out of the quick loop

STOP_WITHIN = 10  # seconds from the signal; the runs here stop within about one


def as_a_terminal_starts_it():
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def start(command):
    return subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=process_environment({"PYTHONUNBUFFERED": "1"}), start_new_session=True,
        preexec_fn=as_a_terminal_starts_it)


def wait_for_line(process, prefix, timeout, lines=None):
    """Read stdout until a line starts with `prefix` and return it (the lines before it go
    into `lines`); fails after `timeout` seconds. It reads the pipe itself, keeping what
    follows the line in `process.pending`: a file object's buffer could hold the next line
    where select does not see it."""
    deadline = time.monotonic() + timeout
    pending = getattr(process, "pending", b"")
    while True:
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            text = line.decode("utf-8", "replace") + "\n"
            if text.startswith(prefix):
                process.pending = pending
                return text
            if lines is not None:
                lines.append(text)
        left = deadline - time.monotonic()
        ready = left > 0 and select.select([process.stdout], [], [], left)[0]
        chunk = os.read(process.stdout.fileno(), 1 << 16) if ready else b""
        if not chunk:
            break  # the time is up, or the process closed its output
        pending += chunk
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


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """tests/interrupt_harness.py's run: its work folder, exit code, stdout and stderr, and
    the seconds from this test's Ctrl-C (sent from outside when the harness says it is
    ready) to the end of that run."""
    work = tmp_path_factory.mktemp("harness")
    process = start([sys.executable, str(REPO_ROOT / "tests" / "interrupt_harness.py"),
                     str(work)])
    lines = []
    wait_for_line(process, '{"ready": "Ctrl-C from outside"}', timeout=120, lines=lines)
    sent = ctrl_c(process)
    lines.append(wait_for_line(process, '{"moment": "Ctrl-C from outside', timeout=STOP_WITHIN))
    stopped_within = time.monotonic() - sent
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"the harness did not end: {process.communicate()}") from None
    stdout = "".join(lines) + process.pending.decode("utf-8", "replace") + stdout
    return work, process.returncode, stdout, stderr, stopped_within


def test_ctrl_c_from_outside_stops_a_training_run(harness):
    # A part of the stopped-and-resumed scratch run below, interrupted from outside the
    # process (to its process group, as a terminal's Ctrl-C) at a training batch.
    _, _, stdout, _, stopped_within = harness
    (run,) = [json.loads(line) for line in stdout.splitlines()
              if line.startswith('{"moment": "Ctrl-C from outside')]
    assert stopped_within < STOP_WITHIN and run["signals"] == 0  # (none sent from inside)
    assert (run["code"], run["last_line"]) == (130, "interrupted"), run["stderr"][-2000:]
    assert "Traceback" not in run["stderr"] and "Exception ignored" not in run["stderr"]
    assert run["outputs"] == []  # nothing looks complete: no model.keras, no metrics.json


def test_a_stop_at_every_moment_a_reader_meets(harness):
    # tests/interrupt_harness.py sends the signal from inside the process at fixed moments:
    # with the first KeyboardInterrupt lost (in C code that clears it, in a __del__), during
    # VGG16's feature extraction, between Boston's folds and during prepare's copy. Then it
    # stops one training run again and again (SIGINT, SIGTERM, SIGHUP: at a batch, from
    # outside; during validation, between the epoch-end callbacks, during the backup's saves,
    # after the last epoch), each part going on from the backup the one before left, and
    # lets the last part finish.
    tmp_path, code, stdout, stderr, _ = harness
    assert code == -signal.SIGKILL and "not killed" not in stdout, stderr[-3000:]  # its end
    runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert len(runs) == 13
    for run in runs[:-1]:
        if run["signals"] == 0:  # Ctrl-C from outside: the test above
            continue
        assert (run["moment"], run["code"], run["last_line"], run["signals"]) == (
            run["moment"], 128 + getattr(signal, run["signal"]), "interrupted", 1), (
            run["stderr"][-2000:])
        assert "Traceback" not in run["stderr"] and "Exception ignored" not in run["stderr"]
        assert run["seconds"] < STOP_WITHIN, run["moment"]
    lost = [run for run in runs if run["moment"].startswith("lost")]
    # Stopped by the repeat, which the harness sets to come 0.3 s after a lost interrupt.
    assert [run["seconds"] > 0.25 for run in lost] == [True, True]

    # Each part of the stopped training run goes on after the last epoch the part before
    # finished: the backup holds that epoch and the one before it, nothing else.
    parts = runs[5:]
    assert [run["signal"] for run in parts[:-1]] == [
        "SIGTERM", "SIGINT", "SIGHUP", "SIGINT", "SIGTERM", "SIGHUP", "SIGINT"]
    assert parts[0]["said"] == []
    backup = tmp_path / "resumed" / "scratch" / "backup"
    for before, part in zip(parts, parts[1:], strict=False):
        after = before["resumes_after"]
        assert part["said"] == [
            f"resuming after epoch {after} of 9: the stopped run's progress is in {backup} "
            f"(pass --restart to start over instead)" if after < 9 else
            f"no epoch left to train: the stopped run's 9 finished epochs are in {backup}; "
            f"its best epoch is tested (pass --restart to start over instead)"], before["moment"]
        assert before["generations"] == [f"epoch-{after:04d}", f"epoch-{after - 1:04d}"][
            :min(after, 2)]
    assert parts[-1]["code"] == 0, parts[-1]["stderr"][-2000:]
    # Until the last part, nothing in the output folder looks like a finished run.
    assert [part["outputs"] for part in parts] == [[]] * 7 + [["model.keras", "metrics.json"]]
    metrics = read_metrics(tmp_path / "resumed" / "scratch")
    assert len(metrics["history"]["loss"]) == len(metrics["epoch_seconds_all"]) == 9
    assert metrics["parts"] == 8 and metrics["seconds"] > sum(metrics["epoch_seconds_all"])
    assert not (tmp_path / "resumed" / "scratch" / "backup").exists()


def test_a_run_killed_while_its_backup_is_written_goes_on_after_the_epoch_before(harness):
    # The harness ended killed by SIGKILL (a power cut, the OOM killer) while epoch 2's
    # backup was written, its files saved but the folder not yet renamed: run again, it goes
    # on after epoch 1.
    tmp_path, code, stdout, stderr, _ = harness
    assert code == -signal.SIGKILL and "not killed" not in stdout, stderr[-2000:]
    backup = tmp_path / "killed" / "scratch" / "backup"
    assert sorted(path.name for path in backup.iterdir()) == ["epoch-0001", "epoch-0002.partial"]
    argv = interrupt_harness_argv(tmp_path, epochs=3)
    result = run_script("convnet", *argv)
    assert result.returncode == 0, result.stderr[-2000:]
    said = [line for line in result.stdout.splitlines()
            if line.startswith(("note:", "resuming", "starting"))]
    assert said[0].startswith(f"note: taking over {backup.parent}: process ")
    assert said[1:] == [f"resuming after epoch 1 of 3: the stopped run's progress is in {backup} "
                        f"(pass --restart to start over instead)"]
    assert len(read_metrics(backup.parent)["history"]["loss"]) == 3


def interrupt_harness_argv(work, epochs):
    import interrupt_harness

    return interrupt_harness.resume_argv(work, epochs, folder="killed")


SWALLOWS_EVERY_INTERRUPT = f"""
import sys, time
sys.path.insert(0, {str(FILES)!r})
from support import stop_signals


class Sink:
    def __del__(self):  # an interrupt in here is only reported (and that report silenced)
        try:
            print("waiting", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            print("swallowed", flush=True)
            time.sleep(60)


with stop_signals.stopping_on_signals():
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
    code = (f"import sys; sys.path.insert(0, {str(FILES)!r}); import os, signal\n"
            "from support import command_line\n"
            "def main():\n"
            "    try:\n"
            "        os.killpg(os.getpgrp(), signal.SIGINT)\n"
            "    except KeyboardInterrupt as error:\n"
            "        raise RuntimeError('a library error') from error\n"
            "command_line.run(main)\n")
    process = start([sys.executable, "-c", code])
    assert_interrupted(process, time.monotonic(), timeout=60)
