"""Tests for files/support/checkpoints.py: a training run's backup, one whole generation per epoch,
and going on after a stop (in-process; real signals are in test_stop_signals.py)."""

import argparse
import json
import shutil

from support import checkpoints

import numpy as np
import pytest


def train(images, output_dir, epochs=5, stop_after=None, verbose=0, val_labels="same"):
    """A small model trained with a TrainingRun's callbacks (as the image stages do);
    KeyboardInterrupt once epoch `stop_after` is kept."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    val_y = {"same": y, "opposite": 1 - y, "nan": np.full_like(y, np.nan)}[val_labels]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    args = argparse.Namespace(output_dir=output_dir, epochs=epochs, verbose=verbose,
                              data_dir=images, seed=42)
    run = checkpoints.TrainingRun(args)

    def ctrl_c_after(epoch, logs):
        if epoch + 1 == stop_after:
            raise KeyboardInterrupt

    stop = keras.callbacks.LambdaCallback(on_epoch_end=ctrl_c_after)
    history = model.fit(x, y, epochs=epochs, batch_size=16, validation_data=(x, val_y),
                        initial_epoch=run.initial_epoch, callbacks=[*run.callbacks, stop],
                        verbose=0)
    return history, run, model


def said(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if "time left" not in line]


def resuming(backup, epoch, of=5):
    return (f"resuming after epoch {epoch} of {of}: the stopped run's progress is in {backup} "
            f"(delete that folder to start over instead)")


@pytest.fixture(scope="module")
def stopped(images, tmp_path_factory):
    """A 5-epoch run stopped once epoch 3 was kept: its backup holds epochs 3 and 2."""
    folder = tmp_path_factory.mktemp("stopped")
    with pytest.raises(KeyboardInterrupt):
        train(images, folder, stop_after=3)
    return folder


def stopped_copy(stopped, tmp_path):
    shutil.copytree(stopped / "backup", tmp_path / "backup")
    return tmp_path / "backup"


def run_again(images, folder, epochs=5):
    """What the same command, run again, makes of the backup (before it trains)."""
    args = argparse.Namespace(output_dir=folder, epochs=epochs, verbose=0, data_dir=images,
                              seed=42)
    return checkpoints.TrainingRun(args)


def test_a_backup_holds_the_last_two_whole_generations(stopped):
    backup = stopped / "backup"
    # Each generation whole: the weights (with the optimizer's state), the best model so far
    # and state.json with every file's checksum.
    assert sorted(path.name for path in backup.iterdir()) == ["epoch-0002", "epoch-0003"]
    state = json.loads((backup / "epoch-0003" / "state.json").read_text())
    assert sorted(state["files"]) == ["best.keras", "latest.weights.h5"]
    assert state["epoch"] == 3 and len(state["history"]["loss"]) == 3 and state["parts"] == 1
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


def test_other_settings_start_over(stopped, images, tmp_path, capsys):
    backup = stopped_copy(stopped, tmp_path)
    assert run_again(images, tmp_path, epochs=3).initial_epoch == 0
    assert said(capsys) == [
        "starting over: the settings differ from the stopped run's (epochs 5 -> 3); its "
        f"backup in {backup} is removed"]


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
                  metrics=["accuracy"])
    args = argparse.Namespace(output_dir=tmp_path, epochs=4, verbose=0, data_dir=images)
    run = checkpoints.TrainingRun(args)
    history = model.fit(x, y, epochs=4, batch_size=16, validation_data=(x, val_y),
                        callbacks=run.callbacks, verbose=0)
    test = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    best_model = run.best_model(model)  # as a stage tests it
    assert (best_model is model) == (validation == "improves")
    results, details = run.results(
        best_model, test=best_model.evaluate(test, verbose=0),
        last=model.evaluate(test, verbose=0), book="0.5", steps_per_epoch=None, batch_size=16,
        skipped_pictures=2, extra={"precision": "float32"})
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
