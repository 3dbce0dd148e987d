"""What a training stage's finished epochs depend on, and a stopped run's compared with the
new command's (checkpoints.py keeps them in each backup and asks here before going on).

- `settings_of(args, more_settings, model)`: (the settings, how and where the run computes),
  as text;
- `compare`: what changed since the stopped run, in two kinds:
  - what the finished epochs depend on (the pictures, by their names and contents; the seed,
    batch size, image size, steps per epoch, VGG16's weights, the optimizer and the
    learning rate the stage compiles with, the model, an earlier stage's model, any other
    flag): a change ends the run with one `error:` line (`refusal`) that names each
    change, the stopped run's own command and --restart; nothing is removed;
  - how and where it computes (the precision, a GPU found or lost, --verbose, the output
    folder, the pictures' folder): the run goes on and says what changed in one `note:`
    line;
- --epochs is neither: it is where the run ends, not what it has done
  (`stopped_run_epochs`: the stopped run's).

Not in the book scripts: the book's stages run once, start to end, in a notebook.
"""

import math
import os
import shlex
import subprocess
from pathlib import Path

from support import picture_pipeline, precision, run_records

import keras

# The layout of state.json's settings. Backups without "format" were written before the
# pictures, the learning rate and the model were compared, with every flag in "settings".
FORMAT = 2

# How and where a run computes: a change goes on, with a note (see the module's docstring).
COMPUTING = {"precision": "precision", "mixed_precision": "--mixed-precision",
             "verbose": "--verbose", "output_dir": "output folder",
             "data_dir": "pictures' folder"}
# Not settings: --epochs is where the run ends, --smoke acts through the other flags,
# --restart says what to do with the backup.
NOT_SETTINGS = {"epochs", "smoke", "restart", *COMPUTING}


def settings_of(args, more_settings, model=None):
    """(what the finished epochs depend on, how and where the run computes), as text: the
    flags (but those of NOT_SETTINGS), the pictures and VGG16's weights by their names and
    contents (not by their paths: a moved folder holds the same pictures), the model's
    learning rate, size and precision, and `more_settings`."""
    split = picture_pipeline.find_split(args.data_dir)
    settings = {key: value for key, value in vars(args).items() if key not in NOT_SETTINGS}
    settings["pictures"] = run_records.data_identity("convnet", None, split)["files"][
        f"{run_records.PICTURES}/"]
    weights = settings.get("weights")
    if weights is not None and weights not in ("imagenet", "none"):
        identity = run_records.weights_identity(weights)
        settings["weights"] = f"{identity['name']} ({identity['sha256']})"
    policy = keras.mixed_precision.global_policy().name
    if model is not None:
        optimizer = precision.unwrapped(model.optimizer)
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        settings["optimizer"] = type(optimizer).__name__
        settings["learning_rate"] = f"{rate:g}"
        settings["model"] = (f"{model.name}, {count_parameters(model.weights):,} parameters "
                             f"({count_parameters(model.trainable_weights):,} trainable)")
        policy = model.dtype_policy.name
    computing = {"precision": policy,
                 "mixed_precision": getattr(args, "mixed_precision", None),
                 "verbose": args.verbose, "output_dir": Path(args.output_dir).resolve(),
                 "data_dir": split.resolve()}
    return ({key: str(value) for key, value in {**settings, **more_settings}.items()},
            {key: str(value) for key, value in computing.items()})


def count_parameters(weights):
    return sum(math.prod(weight.shape) for weight in weights)


def compare(state, settings, computing, args, backup_dir):
    """(the changes of what the stopped run's finished epochs depend on, notes on the
    rest), each change as `name before -> now`: `state` is the stopped run's (its
    state.json, from `backup_dir`), `settings` and `computing` this run's (settings_of)."""
    before, now = dict(state["settings"]), dict(settings)
    computing_before = state.get("computing", {})
    unknown = []
    if state.get("format") != FORMAT:  # an earlier layout: every flag in "settings"
        computing_before = {key: before.pop(key) for key in COMPUTING if key in before}
        before = {key: value for key, value in before.items() if key not in NOT_SETTINGS}
        if "weights" in now:  # then kept as typed, not by content
            now["weights"] = str(args.weights)
        unknown = [key for key in now if key not in before]
        if computing_before.get("data_dir") == computing["data_dir"]:
            # The same folder: taken as the same pictures, as that code did.
            before["pictures"] = now["pictures"]
            unknown.remove("pictures")
    changed = [change(key, before.get(key), now.get(key), computing_before, computing)
               for key in [*now, *(key for key in before if key not in now)]
               if key not in unknown and before.get(key) != now.get(key)]
    differing = [change(key, computing_before[key], value)
                 for key, value in computing.items()
                 if key in computing_before and computing_before[key] != value]
    notes = []
    if differing:
        notes.append(f"the run goes on with {', '.join(differing)}: its finished epochs "
                     f"do not depend on {'it' if len(differing) == 1 else 'them'}")
    if unknown:
        names = ", ".join(key.replace("_", " ") for key in unknown)
        notes.append(f"the backup in {backup_dir} was written by an earlier version "
                     f"of this code, which did not keep these settings: {names}; they "
                     f"are taken as unchanged")
    return changed, notes


def refusal(state, changed, backup_dir):
    """The `error:` line of a run whose settings differ from the stopped run's."""
    command = state.get("command")
    again = (f"run its own command: {format_command(command)}" if command else
             "run it again with its own settings (the left side of each change)")
    return (f"the stopped run in {backup_dir} ({state['epoch']} finished epochs) "
            f"was trained with other settings: {', '.join(changed)}. To go on with it, "
            f"{again}; to throw it away and start over, add --restart")


MIXED_PRECISION = {"None": "default", "True": "on", "False": "off"}


def change(key, before, now, computing=None, computing_now=None):
    """`name before -> now`, with the names the command line uses; the pictures with
    their folders."""
    if key == "mixed_precision":
        before, now = MIXED_PRECISION.get(before, before), MIXED_PRECISION.get(now, now)
    if key == "pictures" and computing and "data_dir" in computing:
        before = f"{before} in {computing['data_dir']}"
        now = f"{now} in {computing_now['data_dir']}"
    return f"{COMPUTING.get(key, key.replace('_', ' '))} {before} -> {now}"


def stopped_run_epochs(state):
    """The --epochs of the run that wrote `state` (None if unknown)."""
    epochs = state.get("epochs", state["settings"].get("epochs"))
    try:
        return int(epochs)
    except (TypeError, ValueError):
        return None


def format_command(argv):
    """A command line to copy: `python files/convnet.py ...`, quoted for the shell."""
    join = subprocess.list2cmdline if os.name == "nt" else shlex.join
    return join(["python", *argv])
