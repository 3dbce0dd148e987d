"""Tests for files/support/checkpoints.py: a training run's backup, one whole generation per epoch,
and going on after a stop, unless the settings changed (run_settings.py) (in-process; real
signals are in test_stop_signals.py).

Most tests decide from one stopped run's backup, copied, what the same command with a flag
changed does next: TrainingRun alone, no training."""

import argparse
import json
import os
import re
import shutil

from support import checkpoints, errors, picture_pipeline, precision, run_settings, stages

import numpy as np
import pytest

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)

# The flags of a convnet.py stage (features-augment's), as the tests pass them.
FLAGS = dict(stage="features-augment", epochs=5, batch_size=16, seed=42, smoke=False,
             verbose=0, image_size=48, steps_per_epoch=None, mixed_precision=None,
             weights="imagenet", restart=False)
COMMAND = ["files/convnet.py", "features-augment", "--epochs", "5", "--seed", "42"]


def arguments(images, output_dir, **changes):
    return argparse.Namespace(**{**FLAGS, "data_dir": images, "output_dir": output_dir,
                                 **changes})


def tiny_model(learning_rate=0.01, units=None):
    """The tests' model, compiled (under Keras's global precision policy) to run eagerly:
    these tests are about a run's files and callbacks, which graph mode does not change, and
    tracing its training and test steps took most of each fit's time (the image stages'
    graph-mode runs: test_convnet.py, test_float16.py, the interrupt harness)."""
    import keras

    hidden = [keras.layers.Dense(units, activation="relu")] if units else []
    model = keras.Sequential([keras.Input((4,)), *hidden,
                              keras.layers.Dense(1, activation="sigmoid", dtype="float32")],
                             name="tiny")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"], run_eagerly=True)
    return model


def train(images, output_dir, epochs=5, stop_after=None, val_labels="same", units=None,
          **changes):
    """A small model trained with a TrainingRun's callbacks (as the image stages do);
    KeyboardInterrupt once epoch `stop_after` is kept."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    val_y = {"same": y, "opposite": 1 - y, "nan": np.full_like(y, np.nan)}[val_labels]
    model = tiny_model(units=units)
    args = arguments(images, output_dir, epochs=epochs, **changes)
    run = checkpoints.TrainingRun(args, model)

    def ctrl_c_after(epoch, logs):
        if epoch + 1 == stop_after:
            raise KeyboardInterrupt

    stop = keras.callbacks.LambdaCallback(on_epoch_end=ctrl_c_after)
    history = model.fit(x, y, epochs=args.epochs, batch_size=16, validation_data=(x, val_y),
                        initial_epoch=run.initial_epoch, callbacks=[*run.callbacks, stop],
                        verbose=0)
    return history, run, model


def said(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if "time left" not in line]


def resuming(backup, epoch, of=5, aimed=""):
    return (f"resuming after epoch {epoch} of {of}{aimed}: the stopped run's progress is in "
            f"{backup} (pass --restart to start over instead)")


@pytest.fixture(scope="module")
def stopped(images, tmp_path_factory):
    """A 5-epoch run stopped once epoch 3 was kept: its backup holds epochs 3 and 2."""
    folder = tmp_path_factory.mktemp("stopped")
    stages.COMMAND = COMMAND
    try:
        with pytest.raises(KeyboardInterrupt):
            train(images, folder, stop_after=3)
    finally:
        stages.COMMAND = None
    return folder


def stopped_copy(stopped, tmp_path):
    """A copy of the stopped run's backup in tmp_path, as if it had run there."""
    backup = shutil.copytree(stopped / "backup", tmp_path / "backup")
    for folder in checkpoints.generations(backup):
        state = json.loads((folder / "state.json").read_text())
        state["computing"]["output_dir"] = str(tmp_path.resolve())
        (folder / "state.json").write_text(json.dumps(state))
    return backup


def run_again(images, folder, model=None, **changes):
    """What the same command, run again, makes of the backup (before it trains)."""
    args = arguments(images, folder, **changes)
    return checkpoints.TrainingRun(args, tiny_model() if model is None else model)


def files_of(folder):
    return {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*")
            if path.is_file()}


def test_a_backup_holds_the_last_two_whole_generations(stopped):
    backup = stopped / "backup"
    # Each generation whole: the weights (with the optimizer's state), the best model so far
    # and state.json with every file's checksum.
    assert sorted(path.name for path in backup.iterdir()) == ["epoch-0002", "epoch-0003"]
    state = json.loads((backup / "epoch-0003" / "state.json").read_text())
    assert sorted(state["files"]) == ["best.keras", "latest.weights.h5", "optimizer.npz"]
    assert state["epoch"] == 3 and len(state["history"]["loss"]) == 3 and state["parts"] == 1
    # What the epochs depend on, how the run computed, and its command line, to print.
    assert state["settings"]["seed"] == "42" and state["settings"]["learning_rate"] == "0.01"
    assert state["computing"]["precision"] == "float32" and state["command"] == COMMAND
    assert "epochs" not in state["settings"] and state["epochs"] == 5
    assert len(state["epoch_seconds"]) == 3 and state["seconds"] >= sum(state["epoch_seconds"])


def test_a_stopped_run_goes_on_from_its_last_epoch(stopped, images, tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    first = json.loads((backup / "epoch-0003" / "state.json").read_text())["history"]["loss"]
    history, run, model = train(images, tmp_path)
    assert said(capsys) == [resuming(backup, 3)]
    loss = history.history["loss"]
    assert loss[:3] == first and len(loss) == 5  # fit's history: before the stop too
    assert loss[3] < first[0]  # epoch 4 went on from epoch 3's weights, not from scratch
    assert int(model.optimizer.iterations) == 5 * 4  # and from its optimizer's state
    assert history.epoch == [0, 1, 2, 3, 4] and len(run.epoch_seconds) == 5
    assert run.best_val_loss == min(history.history["val_loss"])
    assert run.parts == 2 and run.seconds_before >= sum(run.epoch_seconds[:3])
    assert run.best_model_path().parent.name == "epoch-0005"
    checkpoints.remove_backup(tmp_path)  # what convnet.py does once its outputs are written
    assert not backup.exists()


def test_a_generation_that_is_not_better_links_the_best_model(images, tmp_path):
    # Validated on the opposite labels, the better the fit, the worse the validation loss:
    # epoch 1 stays the best, and later generations hold its model under a second name.
    with pytest.raises(KeyboardInterrupt):
        train(images, tmp_path, epochs=3, stop_after=3, val_labels="opposite")
    best = [tmp_path / "backup" / f"epoch-{epoch:04d}" / "best.keras" for epoch in (2, 3)]
    assert best[0].stat().st_ino == best[1].stat().st_ino
    # NaN validation losses: no epoch is the best one, no best model is kept.
    *_, run, _ = train(images, tmp_path / "nan", epochs=2, val_labels="nan")
    assert run.best_model_path() is None


def test_killed_while_writing_a_generation_goes_on_from_the_one_before(stopped, images,
                                                                          tmp_path, capsys):
    # What a kill leaves while epoch 3's generation is written: its folder not renamed yet
    # (tests/interrupt_harness.py --kill makes it with a real SIGKILL).
    backup = stopped_copy(stopped, tmp_path)
    (backup / "epoch-0003").rename(backup / "epoch-0003.partial")
    assert run_again(images, tmp_path).initial_epoch == 2
    assert said(capsys) == [resuming(backup, 2)]


@pytest.mark.parametrize("damage, why", [
    (lambda folder: (folder / "latest.weights.h5").open("ab").write(b"more"),
     "latest.weights.h5 changed since it was written"),
    (lambda folder: (folder / "state.json").write_text('{"files": {'), "Expecting"),
    (lambda folder: (folder / "best.keras").unlink(), "No such file or directory"),
])
def test_a_damaged_newest_generation_falls_back_to_the_one_before(damage, why, stopped,
                                                                  images, tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    damage(backup / "epoch-0003")
    assert run_again(images, tmp_path).initial_epoch == 2
    note, resumed = said(capsys)
    assert note.startswith(f"note: the backup in {backup} is damaged (epoch-0003: ")
    assert why in note and resumed == resuming(backup, 2)


def test_a_backup_damaged_throughout_starts_over(stopped, images, tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    for folder in checkpoints.generations(backup):
        (folder / "latest.weights.h5").write_bytes(b"")
    assert run_again(images, tmp_path).initial_epoch == 0
    lines = said(capsys)
    assert lines[-1] == (f"starting over: the backup in {backup} is damaged "
                         f"(epoch-0002: latest.weights.h5 changed since it was written)")
    assert len(lines) == 3 and not backup.exists()


def test_a_backup_with_no_finished_epoch_starts_over(images, tmp_path, capsys):
    (tmp_path / "backup" / "epoch-0001.partial").mkdir(parents=True)
    assert run_again(images, tmp_path, epochs=2).initial_epoch == 0
    assert said(capsys) == [f"starting over: the backup in {tmp_path / 'backup'} holds no "
                            f"finished epoch"]


# ---- A flag changed: more epochs go on, a different run is refused, nothing is deleted ----


def test_more_epochs_go_on_toward_the_new_count(stopped, images, tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    run = run_again(images, tmp_path, epochs=8)
    assert (run.initial_epoch, run.epochs) == (3, 8)
    assert said(capsys) == [resuming(backup, 3, of=8, aimed=" (the stopped run's --epochs "
                                                            "was 5)")]


@pytest.mark.parametrize("epochs, line", [
    (3, "no epoch left to train: the stopped run's 3 finished epochs are in {backup}; its "
        "best epoch is tested (pass --restart to start over instead)"),
    (2, "no epoch left to train: the stopped run's 3 finished epochs are in {backup}, more "
        "than --epochs 2: all of them are kept; its best epoch is tested (pass --restart to "
        "start over instead)"),
])
def test_at_or_below_the_epochs_finished_the_run_trains_no_more(epochs, line, stopped, images,
                                                                tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    history, run, model = train(images, tmp_path, epochs=epochs)
    assert said(capsys) == [line.format(backup=backup)]
    # The 3 epochs finished are kept, as a finished run of 3 epochs would have them.
    assert len(history.history["loss"]) == len(run.epoch_seconds) == run.epochs == 3
    assert int(model.optimizer.iterations) == 3 * 4
    assert run.best_model_path() is not None and backup.is_dir()


CHANGES = [  # (the flags changed, what the error line names)
    ({"seed": 7}, "seed 42 -> 7"),
    ({"batch_size": 5}, "batch size 16 -> 5"),
    ({"image_size": 64}, "image size 48 -> 64"),
    ({"steps_per_epoch": 6}, "steps per epoch None -> 6"),
    ({"weights": "none"}, "weights imagenet -> none"),
    ({"stage": "finetune"}, "stage features-augment -> finetune"),
    ({"starting_from": "0a1b"}, "starting from None -> 0a1b"),  # an earlier stage's model
    ({"seed": 7, "batch_size": 5}, "batch size 16 -> 5, seed 42 -> 7"),
]


@pytest.mark.parametrize("changes, named", CHANGES)
def test_a_change_the_finished_epochs_depend_on_is_refused(changes, named, stopped, images,
                                                           tmp_path):
    backup = stopped_copy(stopped, tmp_path)
    before = files_of(backup)
    with pytest.raises(errors.InputError) as refused:
        run_again(images, tmp_path, **changes)
    # One line: each difference, the stopped run's own command and --restart.
    assert str(refused.value) == (
        f"the stopped run in {backup} (3 finished epochs) was trained with other settings: "
        f"{named}. To go on with it, run its own command: python files/convnet.py "
        f"features-augment --epochs 5 --seed 42; to throw it away and start over, add "
        f"--restart")
    assert files_of(backup) == before  # nothing deleted


def other_optimizer():
    import keras

    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    return model


@pytest.mark.parametrize("model, named", [
    (lambda: tiny_model(learning_rate=0.001), "learning rate 0.01 -> 0.001"),
    (other_optimizer, "optimizer RMSprop -> Adam"),
    (lambda: tiny_model(units=2),  # another network: the code changed
     "model tiny, 5 parameters (5 trainable) -> tiny, 13 parameters (13 trainable)"),
])
def test_the_optimizer_the_stage_compiles_and_its_model_are_compared(model, named, stopped,
                                                                    images, tmp_path):
    stopped_copy(stopped, tmp_path)
    with pytest.raises(errors.InputError, match=re.escape(f"other settings: {named}.")):
        run_again(images, tmp_path, model=model())


def test_other_pictures_are_refused_the_same_pictures_elsewhere_go_on(stopped, images,
                                                                      tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    split = images / "cats_and_dogs_small"
    # Compared by their names and contents: a copy elsewhere, or a symlink, are the same.
    moved = shutil.copytree(split, tmp_path / "moved" / "cats_and_dogs_small")
    assert run_again(images, tmp_path, data_dir=tmp_path / "moved").initial_epoch == 3
    assert said(capsys) == [
        f"note: the run goes on with pictures' folder {split.resolve()} -> {moved.resolve()}: "
        f"its finished epochs do not depend on it", resuming(backup, 3)]
    os.symlink(images, tmp_path / "linked")
    assert run_again(images, tmp_path, data_dir=tmp_path / "linked").initial_epoch == 3
    assert said(capsys) == [resuming(backup, 3)]
    # One picture changed: other pictures.
    picture = next((moved / "train" / "cats").iterdir())
    picture.write_bytes(picture.read_bytes() + b"\0")
    with pytest.raises(errors.InputError, match=(
            f"other settings: pictures [0-9a-f]{{16}} in {split.resolve()} -> [0-9a-f]{{16}} "
            f"in {moved.resolve()}[.]")):
        run_again(images, tmp_path, data_dir=tmp_path / "moved")
    assert len(checkpoints.generations(backup)) == 2


def test_how_and_where_the_run_computes_goes_on_with_a_note(stopped, images, tmp_path, capsys):
    import keras

    # --no-mixed-precision, or a CPU with bfloat16 units (or a GPU) found, --verbose and
    # the output folder moved (the backup lies inside it): one note for all.
    shutil.copytree(stopped / "backup", tmp_path / "moved" / "backup")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    run = run_again(images, tmp_path / "moved", mixed_precision=False, verbose=2)
    assert run.initial_epoch == 3
    assert said(capsys) == [
        f"note: the run goes on with precision float32 -> mixed_bfloat16, --mixed-precision "
        f"default -> off, --verbose 0 -> 2, output folder {stopped.resolve()} -> "
        f"{(tmp_path / 'moved').resolve()}: its finished epochs do not depend on them",
        resuming(tmp_path / "moved" / "backup", 3)]


def test_restart_removes_the_backup_and_says_so(stopped, images, tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    run = run_again(images, tmp_path, seed=7, restart=True)
    assert run.initial_epoch == 0 and not backup.exists()
    assert said(capsys) == [f"starting over (--restart): the stopped run's backup in {backup} "
                            f"(epochs 1-3) is removed"]
    run_again(images, tmp_path / "none", restart=True)  # no backup: nothing to say
    assert said(capsys) == []


def test_a_weights_file_is_compared_by_its_contents(images, tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "vgg16.h5").write_bytes(b"other" if name == "c" else b"weights")
    found = [run_settings.settings_of(arguments(images, tmp_path, weights=tmp_path / name /
                                                "vgg16.h5"), {})[0]["weights"]
             for name in ("a", "b", "c")]
    assert found[0] == found[1] != found[2] and found[0].startswith("vgg16.h5 (")


def as_written_before(backup, images):
    """The backup as the code before these comparisons wrote it: every flag (but --verbose
    and --output-dir) in "settings" as text, the picture folder's path, no optimizer.npz."""
    for folder in checkpoints.generations(backup):
        state = json.loads((folder / "state.json").read_text())
        flags = {**FLAGS, "data_dir": (images / "cats_and_dogs_small").resolve()}
        del flags["restart"], flags["verbose"]
        state["settings"] = {key: str(value) for key, value in flags.items()}
        for key in ("format", "computing", "epochs", "command"):
            del state[key]
        del state["files"]["optimizer.npz"]
        (folder / "optimizer.npz").unlink()
        (folder / "state.json").write_text(json.dumps(state))


def test_a_backup_written_before_goes_on(stopped, images, tmp_path, capsys):
    # (A real run's backup, /root/chain's features-augment, holds these very keys.)
    backup = stopped_copy(stopped, tmp_path)
    as_written_before(backup, images)
    unknown = (f"note: the backup in {backup} was written by an earlier version of this code, "
               f"which did not keep these settings: optimizer, learning rate, model; they are "
               f"taken as unchanged")
    history, run, model = train(images, tmp_path)
    assert said(capsys) == [unknown, resuming(backup, 3)]
    assert int(model.optimizer.iterations) == 5 * 4  # its optimizer's state went on too
    # Its own generations are of the new layout.
    state = json.loads((backup / "epoch-0005" / "state.json").read_text())
    assert state["format"] == run_settings.FORMAT and "optimizer.npz" in state["files"]


def test_a_backup_written_before_is_compared_as_it_can_be(stopped, images, tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    as_written_before(backup, images)
    with pytest.raises(errors.InputError) as refused:
        run_again(images, tmp_path, seed=7)
    assert str(refused.value) == (
        f"the stopped run in {backup} (3 finished epochs) was trained with other settings: "
        f"seed 42 -> 7. To go on with it, run it again with its own settings (the left side "
        f"of each change); to throw it away and start over, add --restart")
    capsys.readouterr()
    # Pictures elsewhere: it did not keep what they were, and says so.
    moved = shutil.copytree(images, tmp_path / "moved")
    assert run_again(images, tmp_path, data_dir=moved, epochs=8).initial_epoch == 3
    note, unknown, resumed = said(capsys)
    assert note == (f"note: the run goes on with pictures' folder "
                    f"{(images / 'cats_and_dogs_small').resolve()} -> "
                    f"{(moved / 'cats_and_dogs_small').resolve()}: its finished epochs do not "
                    f"depend on it")
    assert unknown.endswith("did not keep these settings: pictures, optimizer, learning rate, "
                            "model; they are taken as unchanged")
    assert resumed == resuming(backup, 3, of=8, aimed=" (the stopped run's --epochs was 5)")


@pytest.mark.parametrize("stopped_in, goes_on_in", [("mixed_float16", "float32"),
                                                    ("float32", "mixed_float16"),
                                                    ("mixed_float16", "mixed_float16")])
def test_the_optimizer_s_state_goes_on_across_the_loss_scaling_wrapper(
        stopped_in, goes_on_in, images, tmp_path, monkeypatch, capsys):
    # Under mixed_float16 (a CUDA GPU: forced here on the CPU) Keras wraps the optimizer for
    # loss scaling, with more variables: the weights file alone cannot give a wrapped
    # optimizer's state to a plain one, nor the other way round; a wrapped one gets them all,
    # its loss scale included.
    import keras

    def trained_in(policy, epochs):
        keras.mixed_precision.set_global_policy("float32")
        monkeypatch.setattr(precision, "cuda_gpu_available", lambda: True)
        assert precision.use_mixed_precision(policy != "float32") == policy
        history, run, model = train(images, tmp_path, epochs=epochs)
        wrapped = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert wrapped == (policy == "mixed_float16")
        return model

    before = trained_in(stopped_in, epochs=1)  # its backup: epoch 1, as the model ended
    capsys.readouterr()
    after = trained_in(goes_on_in, epochs=1)  # loads the backup, trains no more
    changed = [line for line in said(capsys) if line.startswith("note:")]
    assert any(f"precision {stopped_in} -> {goes_on_in}" in line for line in changed) == (
        stopped_in != goes_on_in), changed
    # The resumed model holds the weights and the optimizer's state the backup was made of.
    optimizers = (before.optimizer, after.optimizer)
    if stopped_in != goes_on_in:
        optimizers = [precision.unwrapped(optimizer) for optimizer in optimizers]
    for kept, loaded in [(before.weights, after.weights),
                         (optimizers[0].variables, optimizers[1].variables)]:
        for variable, value in zip(kept, loaded, strict=True):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable),
                                          keras.ops.convert_to_numpy(value))
    assert int(precision.unwrapped(after.optimizer).iterations) == 4
    if stopped_in == goes_on_in == "mixed_float16":  # and it trains on from there
        goes_on = trained_in(goes_on_in, epochs=2)
        assert resuming(tmp_path / "backup", 1, of=2, aimed=" (the stopped run's --epochs "
                        "was 1)") in said(capsys)
        assert int(precision.unwrapped(goes_on.optimizer).iterations) == 8


def test_the_clock_says_the_time_left_after_the_first_epoch(images, tmp_path, capsys):
    # (With --verbose 0 it says nothing: the runs above print only their one line.)
    train(images, tmp_path, epochs=3, verbose=2)
    clock = [line for line in capsys.readouterr().out.splitlines() if "time left" in line]
    assert len(clock) == 1 and clock[0].startswith("time left: about ")
    assert " s for epochs 2-3 (ends around " in clock[0]


@pytest.mark.parametrize("validation", ["improves", "worsens"])
def test_the_best_epoch_s_model_is_kept_and_reported(validation, images, tmp_path, capsys):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    # Validating on the opposite labels: the better the fit, the worse the validation loss,
    # so the first epoch is the best one.
    val_y = y if validation == "improves" else 1 - y
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy",
                  metrics=["accuracy"], run_eagerly=True)  # (as tiny_model)
    args = argparse.Namespace(output_dir=tmp_path, epochs=4, verbose=0, data_dir=images,
                              batch_size=16)
    run = checkpoints.TrainingRun(args)
    history = model.fit(x, y, epochs=4, batch_size=16, validation_data=(x, val_y),
                        callbacks=run.callbacks, verbose=0)
    test = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    last_loss, _ = model.evaluate(test, verbose=0)
    pictures = picture_pipeline.Pictures(None, None, test, train_steps=None, skipped=2)
    results, details = run.evaluate_best(model, test, book="0.5", pictures=pictures,
                                         precision="float32")  # as every image stage
    assert results["last_test_loss"] == pytest.approx(last_loss, rel=1e-5)
    assert results["best_epoch"] == int(np.argmin(history.history["val_loss"])) + 1
    assert results["best_epoch"] == (4 if validation == "improves" else 1)
    # The numbers reported are those of the model kept in model.keras: the last epoch's
    # when it is the best, the best epoch's otherwise.
    kept = keras.models.load_model(tmp_path / "model.keras")
    kept_loss, kept_accuracy = kept.evaluate(test, verbose=0)
    # The weights named as the file names them, whichever model was tested.
    assert details["trainable_weights"] == [weight.path for weight in kept.trainable_weights]
    assert results["test_loss"] == pytest.approx(kept_loss, rel=1e-5)
    assert results["test_accuracy"] == pytest.approx(kept_accuracy)
    if validation == "worsens":
        assert results["test_loss"] > results["last_test_loss"]
    assert list(results)[-3:] == ["skipped_pictures", "precision", "epoch_seconds"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["backup", "model.keras"]
    assert len(details["epoch_seconds_all"]) == 4 and details["pictures_per_epoch"] is None
    json.dumps(details)  # what goes into metrics.json
    assert "best epoch" in capsys.readouterr().out


def test_every_stage_with_a_backup_takes_restart(capsys):
    import inspect

    import convnet

    for name, (function, _) in convnet.STAGES.items():
        keeps_a_backup = "checkpoints.TrainingRun(" in inspect.getsource(function)
        argv = [name, "--restart"] + (["--source", "x"] if name == "prepare" else [])
        if keeps_a_backup:
            assert stages.parse_stage_args(convnet.STAGES, "", argv).restart is True
            with pytest.raises(SystemExit):
                stages.parse_stage_args(convnet.STAGES, "", [name, "--help"])
            assert "--restart" in capsys.readouterr().out, name
        else:
            with pytest.raises(SystemExit):  # an unknown flag there
                stages.parse_stage_args(convnet.STAGES, "", argv)
