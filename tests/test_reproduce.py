"""files/reproduce.py: runs examples as a reader would and writes book vs measured."""

import json
from pathlib import Path

from support import book_curves, example_runs, reproduce_table

import pytest

from harness import assert_png, no_example_starts, result_fields, run_script


def record_smoke_runs(output_dir):
    """What every example's --smoke run leaves in reproduce's folders (metrics.json with its
    settings), so that a --reuse run plans, summarizes and writes without training."""
    import reproduce

    for entry in reproduce.BOOK:
        stage = entry["command"][1] if len(entry["command"]) > 1 else None
        folder = output_dir / "examples" / "seed42" / Path(entry["command"][0]).stem
        folder = folder / stage if stage else folder
        folder.mkdir(parents=True, exist_ok=True)
        record = {"script": entry["command"][0][:-3], entry["metric"]: 0.75, "seconds": 2.0,
                  "settings": {"seed": 42, "smoke": True, "epochs": 2}}
        for metric in entry.get("extra_metrics", {}):
            record[metric] = 3.5
        if stage:
            record["stage"] = stage
        if entry.get("weights"):
            record["weights"] = record["settings"]["weights"] = "none"
        record.update(curves_beside_the_book(entry["name"]))
        (folder / "metrics.json").write_text(json.dumps(record))


def curves_beside_the_book(name):
    """Made-up curves of a run, with the book's beside them as the scripts keep them: three
    epochs, each 0.1 above the book's (on the book's epoch sizes)."""

    def beside(script, stage):
        book = book_curves.book_history(script, stage)
        history = {key: [value + 0.1 for value in values[:3]]
                   for key, values in book["history"].items()}
        return history, book_curves.beside_book(book, history, book["examples_per_epoch"])

    if name == "reuters":
        history, book = beside("reuters", "validation")
        return {"validation_history": history, "book_history": {"validation_history": book}}
    if name == "fundamentals":
        pairs = {model: beside("fundamentals", model) for model in ("original", "bigger")}
        return {"histories": {model: pair[0] for model, pair in pairs.items()},
                "book_history": {"histories": {model: pair[1] for model, pair in pairs.items()}}}
    if name in reproduce_table.IMAGE_STAGES:
        history, book = beside("convnet", name.removeprefix("convnet-"))
        return {"history": history, "book_history": {"history": book}}
    return {}


@pytest.fixture(scope="module")
def smoke_reproduction(tmp_path_factory):
    """`reproduce.py --smoke --reuse` over every example, in book order, on recorded smoke
    runs (each script's own smoke run is tested in its own module)."""
    output_dir = tmp_path_factory.mktemp("reproduce")
    record_smoke_runs(output_dir)
    return run_script("reproduce", "--smoke", "--reuse", "--output-dir", output_dir), output_dir


def test_smoke_reproduction_of_every_example(smoke_reproduction):
    import reproduce

    result, output_dir = smoke_reproduction
    assert result.returncode == 0, result.stderr[-3000:]
    fields = result_fields(result.stdout)
    rows = len(reproduce.BOOK) + 1  # bostonhousing gives two rows: K-fold and test MAE
    assert fields["script"] == "reproduce" and fields["examples"] == str(rows)
    assert fields["crashed"] == "0" and fields["not_run"] == "0"
    # Progress: one line as each example starts and one as it ends, in book order.
    count = len(reproduce.BOOK)
    for number, name in enumerate(reproduce.NAMES, start=1):
        assert f"[{number}/{count}] {name}: started" in result.stdout
        assert f"[{number}/{count}] {name}: ran" in result.stdout
    table = (output_dir / "results.md").read_text()
    assert table.startswith("Machine: ")
    assert "| mnist | test_accuracy | 97.8% (1st ed. 2.1, test) |" in table
    assert "| bostonhousing | test_mae | 2.55 (1st ed. 3.6 (final model), test) |" in table
    assert "`python files/mnist.py --smoke" in table  # the exact command
    assert "`python files/convnet.py finetune --smoke" in table
    assert "`python files/convnet.py features --smoke --weights none" in table
    record = json.loads((output_dir / "results.json").read_text())
    verdicts = {row["name"] + ":" + row["metric"]: row["verdict"] for row in record["rows"]}
    assert len(verdicts) == rows
    assert verdicts["mnist:test_accuracy"].startswith("ran (smoke")
    assert verdicts["tensors:test_accuracy"] == "ran (no book number)"
    assert verdicts["convnet-features:test_accuracy"].endswith("(untrained VGG16: weights=none)")
    assert all(row["seconds"] > 0 and row["recorded"] for row in record["rows"])
    assert record["machine"]["cores"] >= 1 and record["machine"]["keras"]
    assert_png(output_dir / "results.png")
    # Each run's distance from the book's curves (0.1 on every epoch of the recorded runs).
    distances = {row["name"]: row["book_distance"] for row in record["rows"]
                 if "book_distance" in row}
    assert set(distances) == {"reuters", "fundamentals", *reproduce_table.IMAGE_STAGES}
    assert set(distances["fundamentals"]) == {"histories.original", "histories.bigger"}
    augment = distances["convnet-augment"]["history"]["val_accuracy"]
    assert augment["points"] == 3
    assert augment["mean_abs_difference"] == pytest.approx(0.1)
    assert augment["last_10_mean_abs_difference"] == pytest.approx(0.1)
    assert distances["reuters"]["validation_history"]["val_loss"]["points"] == 3
    # ... and one figure of the image stages' validation curves beside the book's.
    (figure,) = [figure for figure in result.figures if "measured vs the book" in figure["title"]]
    panels = {panel for panel, _ in figure["curves"]}
    assert len(panels) == len(reproduce_table.IMAGE_STAGES)
    assert any(panel.startswith("augment\nmean |difference| 0.100 over 3 epochs")
               for panel in panels)
    book_augment = [values for (panel, label), (_, values) in figure["curves"].items()
                    if panel.startswith("augment") and label == "book, 1st ed."]
    augment = book_curves.book_history("convnet", "augment")
    assert book_augment == [augment["history"]["val_accuracy"]]
    assert_png(output_dir / "book_curves.png")


@pytest.mark.training
def test_an_example_that_cannot_run_is_reported_and_the_rest_go_on(tmp_path, monkeypatch):
    """An example whose script refuses to start (exit 2 and an `error:` line, as finetune
    without features-augment's model) is 'not run', with the script's reason; the other
    example still runs and counts, and the exit code stays 0 (nothing crashed)."""
    import subprocess
    import sys

    # mnist.py runs for real, as the quickstart starts it: `python files/mnist.py`, a process
    # of its own. finetune's refusal is played by a process that only says it (the script's
    # own refusal is test_convnet.py's later-stage test), which spares a second TensorFlow
    # start-up.
    refusal = ("error: {}/features-augment/model.keras not found: run `python files/convnet.py "
               "features-augment` (with the same --output-dir) to make it first.")
    real_run = subprocess.run

    def run(command, *args, **kwargs):
        if command[0] == sys.executable and command[1].endswith("convnet.py"):
            folder = command[command.index("--output-dir") + 1]
            says = f"import sys; sys.stderr.write({refusal.format(folder)!r} + '\\n'); sys.exit(2)"
            command = [sys.executable, "-c", says]
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    result = run_script("reproduce", "--smoke", "--only", "mnist,convnet-finetune",
                        "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    fields = result_fields(result.stdout)
    assert fields["not_run"] == "1" and fields["crashed"] == "0" and fields["ran"] == "1"
    assert "[2/2] convnet-finetune: not run" in result.stdout
    table = (tmp_path / "results.md").read_text()
    assert "| convnet-finetune |" in table and "not run: " in table
    assert "features-augment" in table  # the reason names the stage to run first
    # mnist's own process trained, tested and wrote its outputs where reproduce put it.
    mnist = json.loads((tmp_path / "examples" / "seed42" / "mnist" / "metrics.json").read_text())
    assert mnist["script"] == "mnist" and mnist["settings"]["smoke"] is True
    assert mnist["history"]["loss"][-1] < mnist["history"]["loss"][0]
    assert_png(tmp_path / "examples" / "seed42" / "mnist" / "training.png")
    assert "| mnist |" in table


def test_reuse_trains_nothing_an_example_without_a_run_is_not_run(tmp_path, monkeypatch):
    """--reuse takes finished runs and never starts one: what has no run says so."""
    record_smoke_runs(tmp_path)
    (tmp_path / "examples" / "seed42" / "convnet" / "finetune" / "metrics.json").unlink()
    no_example_starts(monkeypatch)
    result = run_script("reproduce", "--smoke", "--reuse", "--only", "mnist,convnet-finetune",
                        "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    fields = result_fields(result.stdout)
    assert fields["not_run"] == "1" and fields["ran"] == "1"
    assert "no finished run with these settings" in (tmp_path / "results.md").read_text()


def test_reuse_in_a_fresh_clone_lists_the_committed_records(tmp_path, monkeypatch):
    """No run in the output folder: each example's row comes from data/records/, the runs
    the README's table is written from; an example with no record is "not run"."""
    from support import run_records

    import reproduce

    no_example_starts(monkeypatch)
    reproduce.main(["--reuse", "--output-dir", str(tmp_path)])
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    recorded = {record["example"] for record in run_records.read_records()}
    assert recorded  # the committed records
    for row in rows:
        assert (row["verdict"] != "not run") == (row["name"] in recorded), row
        if row["name"] in recorded:
            assert row["recorded"] and "recorded run" in (tmp_path / "results.md").read_text()


def write_recorded_run(folder, seed, accuracy, **settings):
    """A metrics.json as a finished script leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"script": "x", "test_accuracy": accuracy, "seconds": 12.5, "backend": "tensorflow",
              "history": {"loss": [1.0, 0.5]},
              "settings": {"seed": seed, "smoke": False, "data_dir": "../shared/datasets",
                           "epochs": 5, **settings}}
    (folder / "metrics.json").write_text(json.dumps(record))


def test_reuse_takes_recorded_runs_with_the_same_settings(tmp_path, capsys):
    import reproduce

    examples = tmp_path / "examples"
    for seed, accuracy in ((42, 0.975), (1, 0.98), (2, 0.97)):
        write_recorded_run(examples / f"seed{seed}" / "mnist", seed, accuracy)
    # --seeds 3 repeats the quick mnist; everything recorded, so nothing runs.
    reproduce.main(["--only", "mnist", "--seeds", "3", "--reuse", "--data-dir",
                    "../shared/datasets", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "RESULT script=reproduce examples=1 within=1" in out
    row = json.loads((tmp_path / "results.json").read_text())["rows"][0]
    assert row["runs"] == 3 and row["measured"] == pytest.approx(0.975)
    assert len(row["recorded"]) == 3 and row["seconds"] == 12.5
    assert "12 s (recorded run)" in (tmp_path / "results.md").read_text()


def test_a_recorded_run_with_other_settings_is_not_reused(tmp_path):
    import reproduce

    entry = next(entry for entry in reproduce.BOOK if entry["name"] == "convnet-finetune")
    args = reproduce.make_parser().parse_args(
        ["--data-dir", "../shared/datasets", "--epochs", "convnet-finetune=20", "--reuse",
         "--output-dir", str(tmp_path)])
    folder = tmp_path / "convnet"
    write_recorded_run(folder / "finetune", 42, 0.96, epochs=20)
    record = json.loads((folder / "finetune" / "metrics.json").read_text())
    (folder / "finetune" / "metrics.json").write_text(json.dumps({**record, "stage": "finetune"}))
    assert example_runs.recorded_run(entry, args, 42, folder)["fields"]["test_accuracy"] == "0.96"
    assert example_runs.recorded_run(entry, args, 1, folder) is None  # another seed
    for changed in ({"epochs": 100}, {"data_dir": "data"}, {"smoke": True}):
        write_recorded_run(folder / "finetune", 42, 0.96, **changed)
        assert example_runs.recorded_run(entry, args, 42, folder) is None, changed
    (folder / "finetune" / "metrics.json").write_text("{not json")
    assert example_runs.recorded_run(entry, args, 42, folder) is None


def test_shortened_and_weights_flags_reach_the_command_and_the_row(tmp_path):
    import reproduce

    args = reproduce.make_parser().parse_args(
        ["--data-dir", "d", "--weights", "w.h5", "--epochs", "convnet-finetune=20,mnist=2"])
    assert args.epochs == {"convnet-finetune": 20, "mnist": 2}
    entries = {entry["name"]: entry for entry in reproduce.BOOK}
    command = example_runs.example_command(entries["convnet-features"], args, 42, tmp_path)
    assert command[command.index("--weights") + 1] == "w.h5" and "--epochs" not in command
    command = example_runs.example_command(entries["convnet-finetune"], args, 1, tmp_path)
    assert command[command.index("--epochs") + 1] == "20" and "--weights" not in command
    assert command[command.index("--seed") + 1] == "1"
    runs = [{"command": "c", "seconds": 1.0, "seed": 42, "status": "ok",
             "fields": {"test_accuracy": "0.97"}}]
    row = reproduce_table.summarize(entries["convnet-finetune"], runs, epochs=20)
    assert row["verdict"] == "within (shortened: 20 of the book's 100 epochs)"
    # A finetune from a shortened features-augment model says so too.
    runs[0]["fields"]["features_augment_epochs"] = "2"
    row = reproduce_table.summarize(entries["convnet-finetune"], runs, epochs=20)
    assert row["verdict"] == ("within (shortened: 20 of the book's 100 epochs) (from a "
                              "features-augment model of 2 of the book's 30 epochs)")
    runs[0]["fields"]["features_augment_epochs"] = 30  # as a record holds it
    assert reproduce_table.summarize(entries["convnet-finetune"], runs)["verdict"] == "within"
    for bad in ("convnet-finetune=0", "cifar10=3", "tensors"):
        with pytest.raises(SystemExit):
            reproduce.make_parser().parse_args(["--epochs", bad])
    # Other flags: on the command, checked on a recorded run, named in the row.
    args = reproduce.make_parser().parse_args(
        ["--data-dir", "d", "--args", "convnet-visualize=--filters 16 --steps 40"])
    command = example_runs.example_command(entries["convnet-visualize"], args, 42, tmp_path)
    assert command[command.index("--filters"):command.index("--filters") + 4] == [
        "--filters", "16", "--steps", "40"]
    row = reproduce_table.summarize(entries["convnet-visualize"], [{**runs[0], "fields": {
        "pngs": "14", "class_index": "8"}}], changed=["--filters", "16"])
    assert row["verdict"] == "ran (no book number) (not the book's settings: --filters 16)"
    folder = tmp_path / "convnet" / "visualize"
    write_recorded_run(folder, 42, 0.0, data_dir="d", weights="imagenet", filters=16, steps=40)
    record = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**record, "stage": "visualize"}))
    assert example_runs.recorded_run(entries["convnet-visualize"], args, 42, folder.parent)
    args.args = [("convnet-visualize", ["--filters", "64"])]
    assert example_runs.recorded_run(entries["convnet-visualize"], args, 42, folder.parent) is None
    for bad in ("convnet-visualize=16", "cifar10=--filters 2", "convnet-visualize=--filters"):
        with pytest.raises(SystemExit):
            reproduce.make_parser().parse_args(["--args", bad])
