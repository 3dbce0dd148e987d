"""Checkpoints and resuming: an image stage stopped at any moment goes on after its last
finished epoch when it runs again, unless what those epochs depend on has changed.

`TrainingRun(args, model)` gives a stage's `fit` its callbacks and its `initial_epoch`.
After every epoch, OUTPUT_DIR/backup/ receives one *generation*, a folder epoch-NNNN/ that
holds the whole state of the run at that epoch's end:

- latest.weights.h5: the model's weights and the optimizer's state (`model.save_weights`
  keeps both, `model.load_weights` gives both back);
- optimizer.npz: the optimizer's variables once more, without the loss-scaling wrapper
  Keras puts around the optimizer under mixed_float16 (which `load_weights` cannot match
  with an unwrapped one): a run stopped in one precision goes on in another with its
  optimizer's state;
- best.keras: the model of the epoch with the lowest validation loss so far (a hard link to
  the previous generation's file when this epoch was not better);
- state.json: the epoch number, the history, the epoch times, the best validation loss,
  the run's settings, its command line, the time of every part of the run so far, and
  each file's SHA-256.

Run again, a stage compares its settings with the stopped run's (run_settings.py): a change
of what the finished epochs depend on ends the run with one `error:` line, nothing removed;
a change of how and where it computes goes on, with one `note:` line. --epochs is where the
run ends, not what it has done: the run goes on toward the new count, and at or below the
epochs already finished it trains no more and tests the best.

A backup goes when the run finishes (`remove_backup`), with --restart, or when nothing whole
is left in it (no finished epoch, every generation damaged), each with one line.

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
import warnings
from pathlib import Path

from support import console, errors, outputs, run_settings, stages, stop_signals
from support.precision import unwrapped

import keras
import numpy as np

BACKUP_FOLDER = "backup"
WEIGHTS_FILE = "latest.weights.h5"  # Keras wants the .weights.h5 ending
OPTIMIZER_FILE = "optimizer.npz"
BEST_FILE = "best.keras"
STATE_FILE = "state.json"
PARTIAL = ".partial"
CLOCK_EVERY_SECONDS = 600  # on long stages, the time left again at most every 10 minutes


class TrainingRun:
    """The callbacks of an image stage's `fit` (`callbacks`, `initial_epoch`), which keep a
    backup of every epoch and let the same command, run again after a stop (Ctrl-C, a closed
    terminal, a laptop asleep, a killed process), go on after the last finished epoch.

    `model` is the stage's compiled model (its optimizer, learning rate, size and precision
    are settings); `more_settings` are what else its epochs depend on (an earlier stage's
    model, say). With a backup whose epochs reach --epochs or beyond, `args.epochs`
    becomes the number of epochs finished: the run trains no more and is of those epochs.
    `fit` returns the history of all epochs, those before a stop too; `epoch_seconds` holds
    every epoch's time, `seconds_before` the time the earlier parts of the run took. After
    `fit`, `evaluate_best` tests the best epoch's model (`best_model`) and gives the stage's
    numbers (`results`).
    """

    def __init__(self, args, model=None, **more_settings):
        self.backup_dir = Path(args.output_dir) / BACKUP_FOLDER
        self.settings, self.computing = run_settings.settings_of(args, more_settings, model)
        self.command = stages.COMMAND  # the command line, as the reader typed it
        self.started = outputs.STARTED or time.perf_counter()  # this part's start
        state = self.earlier_state(args)
        self.epochs, self.batch_size = args.epochs, getattr(args, "batch_size", None)
        self.generation = state["folder"] if state else None
        self.initial_epoch = state["epoch"] if state else 0
        self.history = state["history"] if state else {}
        self.epoch_seconds = state["epoch_seconds"] if state else []
        self.best_val_loss = state["best_val_loss"] if state else math.inf
        self.seconds_before = state["seconds"] if state else 0.0
        self.parts = state["parts"] + 1 if state else 1
        self.callbacks = [EpochBackup(self), Clock(self, args.epochs, args.verbose)]

    def earlier_state(self, args):
        """The newest whole generation of a stopped run with the same settings, or None
        (--restart, no backup, or none whole: the backup goes, with one line saying why).
        Other settings end the run in one `error:` line (InputError), the backup kept."""
        if getattr(args, "restart", False):
            self.remove_for_restart()
            return None
        if not self.backup_dir.is_dir():
            return None
        state, problem = None, f"the backup in {self.backup_dir} holds no finished epoch"
        for folder in generations(self.backup_dir):
            state, damage = read_generation(folder)
            if state:
                break
            problem = f"the backup in {self.backup_dir} is damaged ({folder.name}: {damage})"
            console.say(f"note: {problem}")
        if not state:
            print(f"starting over: {problem}")
            shutil.rmtree(self.backup_dir)
            return None
        changed, notes = run_settings.compare(state, self.settings, self.computing, args,
                                              self.backup_dir)
        if changed:
            raise errors.InputError(run_settings.refusal(state, changed, self.backup_dir))
        for note in notes:
            console.say(f"note: {note}")
        finished, hint = state["epoch"], "pass --restart to start over instead"
        if finished >= args.epochs:
            more = (f", more than --epochs {args.epochs}: all of them are kept"
                    if finished > args.epochs else "")
            print(f"no epoch left to train: the stopped run's {finished} finished epochs are "
                  f"in {self.backup_dir}{more}; its best epoch is tested ({hint})")
            args.epochs = finished  # this run is of the epochs finished
            return state
        aimed = run_settings.stopped_run_epochs(state)
        was = f" (the stopped run's --epochs was {aimed})" if aimed not in (None, args.epochs) \
            else ""
        print(f"resuming after epoch {finished} of {args.epochs}{was}: the stopped run's "
              f"progress is in {self.backup_dir} ({hint})")
        return state

    def remove_for_restart(self):
        if not self.backup_dir.exists():
            return
        newest = generations(self.backup_dir)
        what = f"epochs 1-{int(newest[0].name.split('-')[1])}" if newest else "no finished epoch"
        shutil.rmtree(self.backup_dir)
        print(f"starting over (--restart): the stopped run's backup in {self.backup_dir} "
              f"({what}) is removed")

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

    def evaluate_best(self, model, test_set, *, book, pictures, precision, extra=None,
                      pictures_per_epoch=None):
        """Evaluate the best epoch's model (best_model) and the last epoch's on `test_set`:
        the stage's (results, details), the `precision` it trained in and `extra` among the
        results. An epoch is `pictures.train_steps` batches, or `pictures_per_epoch`
        pictures where the fit was over other data (features stored from `pictures`)."""
        best_model = self.best_model(model)
        test = best_model.evaluate(test_set, verbose=0)
        last = test if best_model is model else model.evaluate(test_set, verbose=0)
        steps_per_epoch = None if pictures_per_epoch else pictures.train_steps
        results, details = self.results(
            best_model, test=test, last=last, book=book, steps_per_epoch=steps_per_epoch,
            batch_size=self.batch_size, skipped_pictures=pictures.skipped,
            extra={**(extra or {}), "precision": precision})
        return results, {**details, "pictures_per_epoch": pictures_per_epoch
                         or details["pictures_per_epoch"]}

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
        with open(partial / OPTIMIZER_FILE, "wb") as file:
            np.savez(file, *[keras.ops.convert_to_numpy(variable)
                             for variable in unwrapped(model.optimizer).variables])
        best = self.best_model_path()
        if improved:
            model.save(partial / BEST_FILE)
        elif best:
            link_or_copy(best, partial / BEST_FILE)
        names = sorted(path.name for path in partial.iterdir())
        state = {"format": run_settings.FORMAT, "epoch": epoch, "history": self.history,
                 "epoch_seconds": self.epoch_seconds, "best_val_loss": self.best_val_loss,
                 "settings": self.settings, "computing": self.computing,
                 "epochs": self.epochs, "command": self.command,
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
        # The weights always fit; the optimizer's state in the weights file only when both
        # runs' optimizers are wrapped alike for loss scaling (Keras then skips it with a
        # warning): optimizer.npz holds it unwrapped.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.model.load_weights(self.run.generation / WEIGHTS_FILE)
        skipped = False
        for warning in caught:
            if "Skipping variable loading for optimizer" in str(warning.message):
                skipped = True
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
        saved = self.run.generation / OPTIMIZER_FILE
        if saved.is_file() and restore_optimizer(optimizer, saved):
            return
        if skipped:
            console.say("note: the backup's optimizer state does not fit this run's optimizer "
                        "(a backup of an earlier version of this code, made in another "
                        "precision): the optimizer starts afresh from the stopped run's weights")

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


def restore_optimizer(optimizer, path):
    """Give `optimizer` (unwrapped) the variables saved in `path`: False when they do not
    fit (another optimizer, other weights)."""
    variables = unwrapped(optimizer).variables
    with np.load(path) as saved:
        values = [saved[f"arr_{index}"] for index in range(len(saved.files))]
    if [tuple(value.shape) for value in values] != [tuple(var.shape) for var in variables]:
        return False
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    return True


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
