"""Checkpoints and resuming: an image stage stopped at any moment goes on after its last
finished epoch when the same command runs again.

`TrainingRun(args)` gives a stage's `fit` its callbacks and its `initial_epoch`. After every
epoch, OUTPUT_DIR/backup/ receives one *generation*, a folder epoch-NNNN/ that holds the
whole state of the run at that epoch's end:

- latest.weights.h5: the model's weights and the optimizer's state (`model.save_weights`
  keeps both, `model.load_weights` gives both back);
- best.keras: the model of the epoch with the lowest validation loss so far (a hard link to
  the previous generation's file when this epoch was not better);
- state.json: the epoch number, the history, the epoch times, the best validation loss and
  its epoch, the run's settings, the time of every part of the run so far, and each file's
  SHA-256.

A generation is written as epoch-NNNN.partial/, every file flushed to the disk, and only
then renamed to epoch-NNNN/: a folder appears under its final name at once and whole, so a
stop at any moment (SIGKILL and a power cut included) leaves the last finished generation
as it was. The one before it is kept too, for a newest one damaged from outside; older ones
go. Stop signals wait while a generation is written (stop_signals.held_back): the epoch that
has just finished is kept, then the script stops. An epoch counts as finished once its
generation has begun.

Keras's own BackupAndRestore is not used: it writes its weights file and its epoch file in
place, one after the other, and ModelCheckpoint writes the best model in place, so a stop
between or during those writes leaves files that disagree.
"""

import json
import math
import os
import shutil
import time
from pathlib import Path

from support import command_line, console, errors, outputs, picture_pipeline, stop_signals

import keras
import numpy as np

BACKUP_FOLDER = "backup"
WEIGHTS_FILE = "latest.weights.h5"  # Keras wants the .weights.h5 ending
BEST_FILE = "best.keras"
STATE_FILE = "state.json"
PARTIAL = ".partial"
CLOCK_EVERY_SECONDS = 600  # on long stages, the time left again at most every 10 minutes


class TrainingRun:
    """The callbacks of an image stage's `fit` (`callbacks`, `initial_epoch`), which keep a
    backup of every epoch and let the same command, run again after a stop (Ctrl-C, a closed
    terminal, a laptop asleep, a killed process), go on after the last finished epoch.

    `fit` returns the history of all epochs, those before a stop too; `epoch_seconds` holds
    every epoch's time, `seconds_before` the time the earlier parts of the run took. After
    `fit`, `best_model` gives the best epoch's model (the one the stage tests) and `results`
    the stage's numbers. What must not change between the parts: the flags
    (but --verbose), the picture folder, and `more_settings` (an earlier stage's model, say).
    """

    def __init__(self, args, **more_settings):
        self.backup_dir = Path(args.output_dir) / BACKUP_FOLDER
        self.settings = run_settings(args, more_settings)
        self.started = command_line.STARTED or time.perf_counter()  # this part's start
        state = self.earlier_state(args.epochs)
        self.generation = state["folder"] if state else None
        self.initial_epoch = state["epoch"] if state else 0
        self.history = state["history"] if state else {}
        self.epoch_seconds = state["epoch_seconds"] if state else []
        self.best_val_loss = state["best_val_loss"] if state else math.inf
        self.seconds_before = state["seconds"] if state else 0.0
        self.parts = state["parts"] + 1 if state else 1
        self.callbacks = [EpochBackup(self), Clock(self, args.epochs, args.verbose)]

    def earlier_state(self, epochs):
        """The newest whole generation of a stopped run with the same settings, or None (and
        the backup goes, with one line saying why when there was one)."""
        if not self.backup_dir.is_dir():
            return None
        state, problem = None, f"the backup in {self.backup_dir} holds no finished epoch"
        for folder in generations(self.backup_dir):
            state, damage = read_generation(folder)
            if state:
                break
            problem = f"the backup in {self.backup_dir} is damaged ({folder.name}: {damage})"
            console.say(f"note: {problem}")
        changed = [f"{key} {state['settings'].get(key)} -> {value}"
                   for key, value in self.settings.items()
                   if state and state["settings"].get(key) != value]
        if changed:
            problem = (f"the settings differ from the stopped run's ({', '.join(changed)}); "
                       f"its backup in {self.backup_dir} is removed")
        if not state or changed:
            print(f"starting over: {problem}")
            shutil.rmtree(self.backup_dir)
            return None
        print(f"resuming after epoch {state['epoch']} of {epochs}: the stopped run's progress "
              f"is in {self.backup_dir} (delete that folder to start over instead)")
        return state

    def best_model_path(self):
        """The best epoch's model (None before any finite validation loss)."""
        path = self.generation and self.generation / BEST_FILE
        return path if path and path.is_file() else None

    def best_model(self, model):
        """The model of the epoch with the lowest validation loss, copied to model.keras in
        the output folder: `model` itself when that epoch was its last (or no epoch had a
        finite validation loss), else the best epoch's, loaded from the backup."""
        best, epochs = self.best_model_path(), len(self.epoch_seconds)
        self.best_epoch = int(np.nanargmin(self.history["val_loss"])) + 1 if best else epochs
        self.model_path = self.backup_dir.parent / "model.keras"
        if best is None:
            outputs.save_atomically(self.model_path, model.save)
        else:
            outputs.save_atomically(self.model_path,
                                    lambda partial: shutil.copyfile(best, partial))
        return model if self.best_epoch == epochs else keras.models.load_model(self.model_path)

    def results(self, model, *, test, last, book, steps_per_epoch, batch_size,
                skipped_pictures=0, extra=None):
        """(results, details) of a stage: `model` (best_model's) and its test loss and
        accuracy `test`, the last epoch's `last`; `steps_per_epoch` and `batch_size` are the
        fit's (None: one pass over the data); `skipped_pictures` and `extra` join the
        results. Says in one line what was tested, beside the book's number `book`."""
        (test_loss, test_accuracy), (last_loss, last_accuracy) = test, last
        epochs = len(self.epoch_seconds)
        print(f"best epoch {self.best_epoch} of {epochs} (lowest validation loss): "
              f"test accuracy {test_accuracy:.4f} (book: {book}), test loss {test_loss:.4f}; "
              f"last epoch: test accuracy {last_accuracy:.4f}; model saved to "
              f"{self.model_path}")
        results = {"test_accuracy": test_accuracy, "test_loss": test_loss,
                   "best_epoch": self.best_epoch,
                   "val_accuracy": self.history["val_accuracy"][self.best_epoch - 1],
                   "last_test_accuracy": last_accuracy, "last_test_loss": last_loss}
        if skipped_pictures:
            results["skipped_pictures"] = skipped_pictures
        results.update(extra or {})
        results["epoch_seconds"] = float(np.median(self.epoch_seconds))
        # The trainable weights as a saved model names them: a Sequential model built in
        # this process puts its name in front ("vgg16_augmented/dense/kernel"), a loaded one
        # does not.
        trainable = [weight.path.removeprefix(f"{model.name}/")
                     for weight in model.trainable_weights]
        details = {"history": self.history, "epoch_seconds_all": self.epoch_seconds,
                   "steps_per_epoch": steps_per_epoch,
                   "pictures_per_epoch": steps_per_epoch and steps_per_epoch * batch_size,
                   "trainable_weights": trainable, "parts": self.parts,
                   "seconds_before": self.seconds_before}
        return results, details

    def write_generation(self, model, improved):
        """The backup of the epoch just finished (see the module's docstring)."""
        epoch = len(self.epoch_seconds)
        final = self.backup_dir / f"epoch-{epoch:04d}"
        partial = final.with_name(final.name + PARTIAL)
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while writing it
        partial.mkdir(parents=True)
        model.save_weights(partial / WEIGHTS_FILE)
        best = self.best_model_path()
        if improved:
            model.save(partial / BEST_FILE)
        elif best:
            link_or_copy(best, partial / BEST_FILE)
        names = sorted(path.name for path in partial.iterdir())
        state = {"epoch": epoch, "history": self.history, "epoch_seconds": self.epoch_seconds,
                 "best_val_loss": self.best_val_loss, "settings": self.settings,
                 "seconds": self.seconds_before + time.perf_counter() - self.started,
                 "parts": self.parts, "files": {name: outputs.file_sha256(partial / name)
                                                for name in names}}
        (partial / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        for name in [*names, STATE_FILE, "."]:
            outputs.flush_to_disk(partial / name)
        if final.exists():  # a damaged generation the run went back from
            shutil.rmtree(final)
        outputs.replace(partial, final)
        outputs.flush_to_disk(self.backup_dir)
        self.generation = final
        for folder in generations(self.backup_dir)[2:]:  # keep this one and the one before
            shutil.rmtree(folder)


class EpochBackup(keras.callbacks.Callback):
    """Restores a stopped run's generation before training, times each epoch, keeps the
    history and the best validation loss, and writes a generation after each epoch."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_train_begin(self, logs=None):
        if self.run.generation is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:  # its variables, to load into
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.run.generation / WEIGHTS_FILE)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        run = self.run
        with stop_signals.held_back():  # a stop now waits until the epoch is kept
            run.epoch_seconds.append(time.perf_counter() - self.epoch_started)
            for key, value in (logs or {}).items():
                run.history.setdefault(key, []).append(float(value))
            val_loss = float((logs or {}).get("val_loss", math.nan))
            improved = math.isfinite(val_loss) and val_loss < run.best_val_loss
            if improved:
                run.best_val_loss = val_loss
            run.write_generation(self.model, improved)

    def on_train_end(self, logs=None):
        history = self.model.history  # what fit returns: all epochs, before a stop too
        history.history = {key: list(values) for key, values in self.run.history.items()}
        history.epoch = list(range(len(self.run.epoch_seconds)))


def run_settings(args, more_settings):
    """The settings a stopped run must share with the run that goes on from it."""
    # (Not the output folder: the backup lies inside it, so a moved folder goes on too.)
    settings = {key: value for key, value in vars(args).items()
                if key not in ("verbose", "output_dir")}
    settings["data_dir"] = picture_pipeline.find_split(args.data_dir).resolve()
    return {key: str(value) for key, value in {**settings, **more_settings}.items()}


def generations(backup_dir):
    """The whole generations in `backup_dir`, newest first (not the .partial ones)."""
    folders = [path for path in Path(backup_dir).glob("epoch-*")
               if path.is_dir() and not path.name.endswith(PARTIAL)]
    return sorted(folders, reverse=True)


def read_generation(folder):
    """(its state, None), or (None, what is wrong with it): a file missing, changed or
    unreadable since it was written."""
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        for name, sha256 in state["files"].items():
            if outputs.file_sha256(folder / name) != sha256:
                return None, f"{name} changed since it was written"
        if WEIGHTS_FILE not in state["files"]:
            return None, f"no {WEIGHTS_FILE}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return None, errors.error_reason(error)
    state["folder"] = folder
    return state, None


def link_or_copy(source, destination):
    """A second name for the same file (no copy of its bytes), or a copy where the file
    system has no hard links."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def remove_backup(output_dir):
    """A finished stage leaves no backup behind (called once its outputs are written)."""
    shutil.rmtree(Path(output_dir) / BACKUP_FOLDER, ignore_errors=True)


class Clock(keras.callbacks.Callback):
    """One line with the time left after the first epoch this run trains, then at most
    every CLOCK_EVERY_SECONDS (nothing with --verbose 0)."""

    def __init__(self, run, epochs, verbose):
        super().__init__()
        self.run, self.epochs, self.verbose = run, epochs, verbose
        self.said_at = self.this_run = None  # this_run: the first epoch of this command

    def on_epoch_begin(self, epoch, logs=None):
        self.this_run = epoch if self.this_run is None else self.this_run
        now = time.monotonic()
        if (not self.verbose or epoch == self.this_run
                or (self.said_at and now - self.said_at < CLOCK_EVERY_SECONDS)):
            return
        # The first epoch also decodes and caches the pictures: later ones are typical.
        seconds = self.run.epoch_seconds
        recent = seconds[self.this_run + 1:] or seconds[self.this_run:]
        left = float(np.median(recent)) * (self.epochs - epoch)
        ends = time.strftime("%H:%M", time.localtime(time.time() + left))
        print(f"time left: about {format_duration(left)} for epochs {epoch + 1}-"
              f"{self.epochs} (ends around {ends})", flush=True)
        self.said_at = now


def format_duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
