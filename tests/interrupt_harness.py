"""Stop scripts with real signals at chosen moments, all in this one process (the imports of
TensorFlow are paid once): tests/test_stop_signals.py starts it as a terminal starts a script
(its own process group, the stop signals at their defaults, no blocked signals).

    python tests/interrupt_harness.py WORK_FOLDER

For each moment it runs a script's main(argv) through command_line.run, as `python
files/<script>.py` does, sends a signal at that moment (SIGINT and SIGHUP to its own process
group, as a terminal does, SIGTERM to itself; at one moment it prints a `ready` line and the
test sends Ctrl-C from outside), and prints one JSON line: the moment, the signal, the exit
code, the last line on stderr, all of stderr, what the run said of a backup (`resuming after
...`, `no epoch left ...`, `starting over: ...`, `note: ...`) and the seconds from the signal
to the end of the run. The resume moments stop one training run again and again, each part
going on from the backup the part before left: at a batch (Ctrl-C from outside), during
validation, between the epoch-end callbacks, during the backup's saves, after the last epoch;
then one part runs to its end. Last, a third run ends this process with SIGKILL while its
backup is written (WORK_FOLDER/killed/), so the process itself ends killed.
"""

import contextlib
import gc
import io
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT / "files"), str(REPO_ROOT / "data")]

# Before Keras, as in every script: importing support checks the Keras backend setting.
from support import checkpoints, command_line, outputs, stop_signals  # noqa: E402

import keras  # noqa: E402

import make_images  # noqa: E402

sent_at = []  # when each signal went out


def ctrl_c(delay=None, signum=signal.SIGINT):
    """A stop signal (SIGINT: Ctrl-C), now or (delay in seconds) from another thread while
    the main thread goes on, for example into a training step. SIGINT and SIGHUP go to this
    process group (as a terminal sends them), SIGTERM to this process (as `kill` does)."""
    if delay is None:
        sent_at.append(time.monotonic())
        if signum == signal.SIGTERM:
            os.kill(os.getpid(), signum)
        else:
            os.killpg(os.getpgrp(), signum)
    else:
        threading.Timer(delay, ctrl_c, kwargs={"signum": signum}).start()


def ctrl_c_lost(where):
    """Ctrl-C, and its KeyboardInterrupt lost as C code that clears errors loses it, or in
    an object's __del__, where Python only reports it."""
    if where == "c":
        with contextlib.suppress(KeyboardInterrupt):
            ctrl_c()
            time.sleep(0.5)
        return

    class Doomed:
        def __del__(self):
            ctrl_c()
            time.sleep(0.5)

    Doomed()


class At(keras.callbacks.Callback):
    """Calls `action` once, at `hook` ("train_batch_begin", "test_batch_begin",
    "epoch_end", "train_end") of the second epoch the fit trains (`in_first_epoch`: the
    first; for train_end: the first fit)."""

    def __init__(self, hook, action, in_first_epoch=False):
        super().__init__()
        self.hook, self.action, self.epoch, self.done = hook, action, 0, False
        self.first = -1 if in_first_epoch else None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.first = epoch if self.first is None else self.first

    def fire(self, hook, batch=2):
        second_epoch = self.first is not None and self.epoch > self.first
        if hook == self.hook and not self.done and (second_epoch or hook == "train_end"):
            if batch >= 2:
                self.done = True
                self.action()

    def on_train_batch_begin(self, batch, logs=None):
        self.fire("train_batch_begin", batch)

    def on_test_batch_begin(self, batch, logs=None):
        self.fire("test_batch_begin", batch + 2)  # the first validation batch

    def on_epoch_end(self, epoch, logs=None):
        self.fire("epoch_end")

    def on_train_end(self, logs=None):
        self.fire("train_end")


@contextlib.contextmanager
def every_fit_with(callback, first=False):
    """Every fit gets `callback` too: after its own callbacks, or before them (`first`)."""
    fit = keras.Model.fit

    def fit_with_callback(self, *args, callbacks=None, **kwargs):
        callbacks = [callback, *(callbacks or [])] if first else [*(callbacks or []), callback]
        return fit(self, *args, callbacks=callbacks, **kwargs)

    keras.Model.fit = fit_with_callback
    try:
        yield
    finally:
        keras.Model.fit = fit


@contextlib.contextmanager
def on_call(owner, name, number, action):
    """Calls `action` before the `number`th call of owner.name."""
    original, calls = getattr(owner, name), []

    def counted(*args, **kwargs):
        calls.append(1)
        if len(calls) == number:
            action()
        return original(*args, **kwargs)

    setattr(owner, name, counted)
    try:
        yield
    finally:
        setattr(owner, name, original)


REPEAT_SECONDS = 0.3  # stop_signals' repeat for the lost interrupts here (the scripts': 1 s)


@contextlib.contextmanager
def lost_then_repeated(lose_ctrl_c):
    """`lose_ctrl_c` at a training batch of the first epoch, stop_signals repeating a lost
    interrupt after REPEAT_SECONDS (the same mechanism, sooner)."""
    saved = stop_signals.REPEAT_SECONDS
    stop_signals.REPEAT_SECONDS = REPEAT_SECONDS
    try:
        with every_fit_with(At("train_batch_begin", lose_ctrl_c, in_first_epoch=True)):
            yield
    finally:
        stop_signals.REPEAT_SECONDS = saved


def moments(work):
    """(name, script, argv, patch) for each moment."""
    pictures = work / "pictures"
    split = make_images.make_split_folders(pictures, splits={"train": 4, "validation": 1,
                                                             "test": 1})
    kaggle_train = work / "kaggle_train"
    kaggle_train.mkdir()
    for number in range(4):
        for name in ("cat", "dog"):
            shutil.copyfile(next((split / "train" / f"{name}s").iterdir()),
                            kaggle_train / f"{name}.{number}.jpg")
    # 1000 epochs of 1,000 pictures one at a time: an interrupt lost early in the first
    # epoch is raised again by the repeat (REPEAT_SECONDS later), long before the run ends.
    mnist_long = ["--epochs", "1000", "--batch-size", "1", "--data-dir",
                  REPO_ROOT / "data" / "sample", "--verbose", "0"]

    def at(hook, action, in_first_epoch=False):
        return every_fit_with(At(hook, action, in_first_epoch))

    return [
        ("lost in C code that clears errors", "mnist", mnist_long,
         lost_then_repeated(lambda: ctrl_c_lost("c"))),
        ("lost in a __del__", "mnist", mnist_long, lost_then_repeated(lambda: ctrl_c_lost("del"))),
        ("during VGG16's feature extraction", "convnet", ["features", "--smoke"],
         on_call(keras.Model, "predict_on_batch", 2, lambda: ctrl_c(0.0))),
        ("between Boston's K-fold folds", "bostonhousing", ["--smoke", "--verbose", "0"],
         at("train_end", lambda: ctrl_c(0.05))),
        ("during prepare's copy", "convnet",
         ["prepare", "--source", kaggle_train, "--data-dir", work / "prepared"],
         on_call(shutil, "copyfile", 3, ctrl_c)),
    ]


def wait_for_ctrl_c_from_outside():
    """Say so on this process's stdout (the run's own is redirected meanwhile), and wait: the
    test sends Ctrl-C to the process group, as a terminal does, once it reads the line."""
    sys.__stdout__.write(json.dumps({"ready": "Ctrl-C from outside"}) + "\n")
    sys.__stdout__.flush()
    time.sleep(60)  # ended by the KeyboardInterrupt; the test fails long before otherwise


def resume_moments(work):
    """(name, signal, the epoch the next part resumes after, patch) for each part of one
    9-epoch training run; every part is stopped in the second epoch it trains (or at its
    first backup, or after its last epoch), and the last part runs to its end."""
    patched = contextlib.nullcontext

    def at(hook, signum, first=False):
        return every_fit_with(At(hook, lambda: ctrl_c(0.0, signum)), first=first)

    def saving(name, number, signum):  # from inside the save (on the main thread)
        owner = keras.Model if name in ("save", "save_weights") else outputs
        return on_call(owner, name, number, lambda: ctrl_c(signum=signum))

    return [
        ("during the best model's save", signal.SIGTERM, 1, saving("save", 1, signal.SIGTERM)),
        ("Ctrl-C from outside, at a training batch", signal.SIGINT, 2,
         every_fit_with(At("train_batch_begin", wait_for_ctrl_c_from_outside))),
        ("during validation", signal.SIGHUP, 3, at("test_batch_begin", signal.SIGHUP)),
        ("between the epoch-end callbacks, before the backup", signal.SIGINT, 4,
         every_fit_with(At("epoch_end", ctrl_c), first=True)),
        ("during the weights' save", signal.SIGTERM, 6,
         saving("save_weights", 2, signal.SIGTERM)),
        ("between the epoch-end callbacks, after the backup", signal.SIGHUP, 8,
         at("epoch_end", signal.SIGHUP)),
        ("after the last epoch, before the test", signal.SIGINT, 9,
         at("train_end", signal.SIGINT)),
        ("to the end", None, None, patched()),
    ]


def run_once(module, argv, patch):
    """Run `module.main(argv)` as `python files/<script>.py` does: (exit code, stdout,
    stderr, seconds from the first signal to the end)."""
    stdout, stderr, code = io.StringIO(), io.StringIO(), 0
    sent_at.clear()
    with patch, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            command_line.run(lambda: module.main(argv))
        except SystemExit as exit_info:
            code = exit_info.code
    ended = time.monotonic()
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    gc.freeze()  # the survivors set aside from the collector, as harness.run_script does
    return code, stdout.getvalue(), stderr.getvalue(), ended - sent_at[0] if sent_at else None


def report(name, signum, code, stdout, stderr, seconds, **more):
    lines = stderr.strip().splitlines()
    said = [line for line in stdout.splitlines()
            if line.startswith(("resuming after", "no epoch left", "starting over", "note:"))]
    print(json.dumps({"moment": name, "signal": signum and signal.Signals(signum).name,
                      "code": code, "last_line": lines[-1] if lines else "", "stderr": stderr,
                      "said": said, "signals": len(sent_at), "seconds": seconds, **more}),
          flush=True)


def resume_argv(work, epochs=9, folder="resumed"):
    """A scratch run of `epochs` epochs of 4 batches of 4 small pictures, into work/folder."""
    pictures = work / "resume-pictures"
    if not pictures.exists():
        make_images.make_split_folders(pictures, splits={"train": 8, "validation": 2, "test": 2})
    return ["scratch", "--epochs", str(epochs), "--batch-size", "4", "--image-size", "48",
            "--data-dir", str(pictures), "--verbose", "0", "--output-dir", str(work / folder)]


def killed_inside_a_backup(work):
    """SIGKILL while the second epoch's backup is being written: its files are saved, the
    folder not yet renamed (the last flush_to_disk before the rename)."""
    module, argv = __import__("convnet"), resume_argv(work, epochs=3, folder="killed")
    flushes = []

    def kill_in_the_second_backup(path):
        flushes.append(path)
        if Path(path).name == "epoch-0002.partial":
            os.kill(os.getpid(), signal.SIGKILL)
        return flush(path)

    flush = outputs.flush_to_disk
    outputs.flush_to_disk = kill_in_the_second_backup
    run_once(module, argv, contextlib.nullcontext())
    print("not killed", flush=True)


def main():
    work = Path(sys.argv[1])
    gc.freeze()  # TensorFlow's and Keras's objects: each run's clear_session skips them
    for number, (name, script, argv, patch) in enumerate(moments(work)):
        module = __import__(script)
        argv = [str(arg) for arg in argv] + ["--output-dir", str(work / f"out{number}")]
        report(name, signal.SIGINT, *run_once(module, argv, patch))
    module, argv = __import__("convnet"), resume_argv(work)
    for name, signum, resumes_after, patch in resume_moments(work):
        code, stdout, stderr, seconds = run_once(module, argv, patch)
        folder = work / "resumed" / "scratch"
        report(name, signum, code, stdout, stderr, seconds, resumes_after=resumes_after,
               generations=[path.name for path in checkpoints.generations(folder / "backup")],
               outputs=[output for output in ("model.keras", "metrics.json")
                        if (folder / output).exists()])
    killed_inside_a_backup(work)  # the last moment: it ends this process


if __name__ == "__main__":
    main()
