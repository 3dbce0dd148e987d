"""Interrupt scripts with a real SIGINT at chosen moments, all in this one process (the
imports of TensorFlow are paid once): tests/test_interruption.py starts it as a terminal
starts a script (its own process group, SIGINT at its default, no blocked signals).

    python tests/interrupt_harness.py WORK_FOLDER

For each moment it runs a script's main(argv) through command_line.run, as `python
files/<script>.py` does, sends SIGINT to its own process group (what a terminal's Ctrl-C
does) at that moment, and prints one JSON line: the moment, the exit code, the last line on
stderr, all of stderr, and the seconds from the signal to the end of the run.
"""

import contextlib
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

import backend_check  # noqa: E402, F401  (before Keras, as in every script)

import keras  # noqa: E402

import command_line  # noqa: E402
import make_images  # noqa: E402

sent_at = []  # when each SIGINT went out


def ctrl_c(delay=None):
    """SIGINT to this process group, now or (delay in seconds) from another thread while the
    main thread goes on, for example into a training step."""
    if delay is None:
        sent_at.append(time.monotonic())
        os.killpg(os.getpgrp(), signal.SIGINT)
    else:
        threading.Timer(delay, ctrl_c).start()


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
    "epoch_end", "train_end") of the second epoch (for train_end: the first fit)."""

    def __init__(self, hook, action):
        super().__init__()
        self.hook, self.action, self.epoch, self.done = hook, action, 0, False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def fire(self, hook, batch=2):
        if hook == self.hook and not self.done and (self.epoch >= 1 or hook == "train_end"):
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
def every_fit_with(callback):
    fit = keras.Model.fit

    def fit_with_callback(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=[*(callbacks or []), callback], **kwargs)

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


def moments(work):
    """(name, script, argv, patch) for each moment."""
    pictures = work / "pictures"
    split = make_images.make_split_folders(pictures, splits={"train": 50, "validation": 4,
                                                             "test": 4})
    kaggle_train = work / "kaggle_train"
    kaggle_train.mkdir()
    for number in range(4):
        for name in ("cat", "dog"):
            shutil.copyfile(next((split / "train" / f"{name}s").iterdir()),
                            kaggle_train / f"{name}.{number}.jpg")
    scratch = ["scratch", "--epochs", "1000", "--batch-size", "1", "--image-size", "48",
               "--data-dir", pictures, "--verbose", "0"]

    def at(hook, action):
        return every_fit_with(At(hook, action))

    return [
        ("inside a training batch", "convnet", scratch,
         at("train_batch_begin", lambda: ctrl_c(delay=0.0))),
        ("during validation", "convnet", scratch, at("test_batch_begin", lambda: ctrl_c(0.0))),
        ("between epochs, in a callback", "convnet", scratch, at("epoch_end", ctrl_c)),
        ("lost in C code that clears errors", "convnet", scratch,
         at("train_batch_begin", lambda: ctrl_c_lost("c"))),
        ("lost in a __del__", "convnet", scratch,
         at("train_batch_begin", lambda: ctrl_c_lost("del"))),
        ("during VGG16's feature extraction", "convnet", ["features", "--smoke"],
         on_call(keras.Model, "predict_on_batch", 2, lambda: ctrl_c(0.0))),
        ("between Boston's K-fold folds", "bostonhousing", ["--smoke", "--verbose", "0"],
         at("train_end", lambda: ctrl_c(0.05))),
        ("during prepare's copy", "convnet",
         ["prepare", "--source", kaggle_train, "--data-dir", work / "prepared"],
         on_call(shutil, "copyfile", 3, ctrl_c)),
    ]


def main():
    work = Path(sys.argv[1])
    for number, (name, script, argv, patch) in enumerate(moments(work)):
        module = __import__(script)
        argv = [str(arg) for arg in argv] + ["--output-dir", str(work / f"out{number}")]
        stderr, code = io.StringIO(), None
        sent_at.clear()
        with patch, contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(stderr):
            try:
                command_line.run(lambda: module.main(argv))  # noqa: B023 (called at once)
            except SystemExit as exit_info:
                code = exit_info.code
        ended = time.monotonic()
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy("float32")
        lines = stderr.getvalue().strip().splitlines()
        print(json.dumps({"moment": name, "code": code, "last_line": lines[-1] if lines else "",
                          "stderr": stderr.getvalue(), "signals": len(sent_at),
                          "seconds": ended - sent_at[0] if sent_at else None}), flush=True)


if __name__ == "__main__":
    main()
