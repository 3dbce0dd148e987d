"""files/support/run_records.py: the committed record of runs (data/records/) and the README table
written from it alone, through reproduce.py's --record and --update-readme."""

import json
import shutil
from pathlib import Path

from support import reproduce_table, run_records

import pytest

import reproduce
from harness import REPO_ROOT, no_example_starts, run_script

ENTRIES = {entry["name"]: entry for entry in reproduce.BOOK}


@pytest.fixture(autouse=True)
def records_elsewhere(tmp_path, monkeypatch):
    """No test writes into the committed data/records/: the default points into tmp."""
    monkeypatch.setattr(run_records, "RECORDS_DIR", tmp_path / "default-records")


def finished_run(folder, metrics, **settings):
    """A metrics.json as a script leaves it after a real (not smoke) run."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"backend": "tensorflow", "history": {"loss": [1.0, 0.5]}, **metrics,
              "settings": {"smoke": False, "output_dir": str(folder), **settings}}
    (folder / "metrics.json").write_text(json.dumps(record))


def finished_mnist_and_features(tmp_path):
    """Two seeds of mnist and a features run, finished in tmp_path/runs on data and VGG16
    weights in tmp_path: the folders reproduce.py --reuse reads."""
    data, runs = tmp_path / "data", tmp_path / "runs"
    data.mkdir()
    (data / "mnist.npz").write_bytes(b"digits")
    shutil.copytree(REPO_ROOT / "data" / "sample" / "cats_and_dogs_small",
                    data / "cats_and_dogs_small")
    (tmp_path / "vgg16.h5").write_bytes(b"weights")
    for seed, accuracy in ((42, 0.975), (1, 0.98)):
        finished_run(runs / "examples" / f"seed{seed}" / "mnist",
                     {"script": "mnist", "test_accuracy": accuracy, "seconds": 50.0,
                      "book_history": {"history": {"distance": {"loss": {"points": 2}}}}},
                     seed=seed, data_dir=str(data), epochs=5, batch_size=128)
    finished_run(runs / "examples" / "seed42" / "convnet" / "features",
                 {"script": "convnet", "stage": "features", "test_accuracy": 0.95,
                  "seconds": 900.0, "weights": str(tmp_path / "vgg16.h5")},
                 seed=42, data_dir=str(data), epochs=30, weights=str(tmp_path / "vgg16.h5"))
    return data, runs


def test_record_keeps_numbers_settings_and_machine_but_no_local_path(tmp_path):
    (data, runs), records = finished_mnist_and_features(tmp_path), tmp_path / "records"
    result = run_script("reproduce", "--data-dir", data, "--weights", tmp_path / "vgg16.h5",
                        "--only", "mnist,convnet-features", "--seeds", "2", "--reuse", runs,
                        "--record", "--records-dir", records, "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (runs / "results.json").exists()  # --reuse FOLDER only reads that folder
    names = sorted(path.name for path in records.iterdir())
    assert len(names) == 3 and names[0].startswith("convnet-features-seed42-")
    assert names[1].startswith("mnist-seed1-") and names[2].startswith("mnist-seed42-")
    text = (records / names[0]).read_text()
    assert str(tmp_path) not in text  # the data, the weights, the outputs: by name only
    record = json.loads(text)
    settings = record["settings"]
    assert (settings["seed"], settings["epochs"], settings["book_epochs"]) == (42, 30, 30)
    assert settings["weights"]["name"] == "vgg16.h5" and len(settings["weights"]["sha256"]) == 16
    assert list(settings["data"]["files"]) == ["cats_and_dogs_small/"]
    assert record["result"]["test_accuracy"] == 0.95 and record["seconds"] == 900.0
    assert record["result"]["weights"] == "vgg16.h5"
    assert record["command"] == ("python files/convnet.py features --data-dir DATA_DIR --weights "
                                 "WEIGHTS.h5 --output-dir runs/reproduce/examples/seed42/convnet"
                                 " --verbose 0")
    assert record["history"] == {"history": {"loss": [1.0, 0.5]}}
    assert record["book_distance"] == {}
    machine = record["machine"]
    assert machine["cores"] >= 1 and machine["keras_backend"] == "tensorflow"
    assert {"cpu", "cpu_flags", "gpu", "os", "python", "tensorflow", "keras"} <= set(machine)
    mnist = json.loads((records / names[1]).read_text())
    assert mnist["settings"]["data"] == {"files": {"mnist.npz": run_records.file_hash(
        [data / "mnist.npz"], data)}}
    assert "--seed 1 " in mnist["command"]
    assert mnist["book_distance"] == {"history": {"loss": {"points": 2}}}
    # Recording the same runs again writes the same files, nothing more.
    run_script("reproduce", "--data-dir", data, "--only", "mnist", "--seeds", "2", "--reuse",
               runs, "--record", "--records-dir", records, "--output-dir", tmp_path / "out")
    assert sorted(path.name for path in records.iterdir()) == names
    assert not run_records.RECORDS_DIR.exists()


def test_what_visualize_drew_is_recorded_by_file_name(tmp_path):
    # visualize's metrics.json lists the PNGs it wrote and why it skipped Grad-CAM, both
    # with paths of the machine that ran: the record keeps the names and the reason.
    weights = tmp_path / "weights" / "vgg16_notop.h5"
    metrics = {"script": "convnet", "stage": "visualize", "pngs": 2, "seconds": 90.0,
               "weights": str(weights), "picture": str(tmp_path / "cat.1700.jpg"),
               "drawn": {"activations": 1, "filter_patterns": 1, "grad_cam": 0},
               "files": [str(tmp_path / "runs" / "activations_conv2d.png"),
                         str(tmp_path / "runs" / "filters_block1_conv1.png")],
               "skipped": {"grad_cam": f"{weights} holds VGG16's convolutional base only: "
                                       "see https://keras.io/api/applications/vgg/ (fc1)"}}
    record = run_records.make_record(ENTRIES["convnet-visualize"], metrics, 90.0,
                                     "python files/convnet.py visualize", {"seed": 42})
    assert str(tmp_path) not in json.dumps(record)
    assert record["result"]["weights"] == "vgg16_notop.h5"
    assert record["result"]["picture"] == "cat.1700.jpg"
    assert record["history"]["files"] == ["activations_conv2d.png", "filters_block1_conv1.png"]
    assert record["history"]["drawn"] == {"activations": 1, "filter_patterns": 1, "grad_cam": 0}
    assert record["history"]["skipped"] == {"grad_cam": (
        "vgg16_notop.h5 holds VGG16's convolutional base only: "
        "see https://keras.io/api/applications/vgg/ (fc1)")}
    (row,) = [row for row in run_records.table_rows(reproduce.BOOK, [record])
              if row["name"] == "convnet-visualize"]
    assert row["verdict"] == ("ran (no book number) (Grad-CAM skipped: the weights hold no "
                              "ImageNet classifier)")


def test_a_smoke_run_is_never_recorded(tmp_path):
    result = run_script("reproduce", "--smoke", "--record", "--only", "mnist",
                        "--output-dir", tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines()
                                          if line.startswith("error: --record")]
    assert len(result.stderr.splitlines()) == 1 and not run_records.RECORDS_DIR.exists()


def record(example, seed, accuracy, machine="EPYC-bf16-2c", epochs=None, **more):
    """A record as --record writes it, with only what the table reads."""
    entry = ENTRIES[example]
    return {"example": example, "date": "2026-11-30", "seconds": 10.0 + seed,
            "command": f"python files/{entry['command'][0]}",
            "settings": {"seed": seed, "epochs": epochs or entry.get("epochs"), "flags": [],
                         "data": {"files": {"x": "1"}}, **more},
            "result": {entry["metric"]: accuracy},
            "machine": {"name": machine, "cpu": machine, "cores": 2, "gpu": "none",
                        "cpu_flags": [], "os": "Linux", "python": "3.11",
                        "tensorflow": "2.21", "keras": "3.15", "keras_backend": "tensorflow"}}


def test_the_table_takes_the_full_length_run_else_the_longest_one_machine_at_a_time():
    records = [
        # scratch: a fast machine's full 30 epochs beat a slow one's 2 epochs over 3 seeds.
        *[record("convnet-scratch", seed, 0.59, "EPYC-2c", epochs=2) for seed in (42, 1, 2)],
        record("convnet-scratch", 42, 0.736, "Xeon-bf16-2c"),
        # augment: no full run; the longest is labelled shortened.
        record("convnet-augment", 42, 0.70, epochs=10), record("convnet-augment", 42, 0.75,
                                                               "EPYC-2c", epochs=40),
        # mnist: seeds of two machines are never mixed; the one with more seeds is taken.
        record("mnist", 42, 0.975), record("mnist", 1, 0.98), record("mnist", 2, 0.90, "EPYC-2c"),
    ]
    rows = {row["name"]: row for row in run_records.table_rows(reproduce.BOOK, records)}
    scratch = rows["convnet-scratch"]
    assert (scratch["machine"], scratch["measured"], scratch["verdict"]) == (
        "Xeon-bf16-2c", 0.736, "within")
    augment = rows["convnet-augment"]
    assert augment["machine"] == "EPYC-2c" and augment["measured"] == 0.75
    assert augment["verdict"] == "below (shortened: 40 of the book's 100 epochs)"
    mnist = rows["mnist"]
    assert (mnist["machine"], mnist["runs"], mnist["low"], mnist["high"]) == (
        "EPYC-bf16-2c", 2, 0.975, 0.98)
    assert mnist["seconds"] == pytest.approx((52 + 11) / 2)  # the runs' median
    assert rows["imdb"]["verdict"] == "no record yet" and rows["imdb"]["command"] is None
    table = run_records.table_rows(reproduce.BOOK, [])
    assert [row["verdict"] for row in table] == ["no record yet"] * (len(reproduce.BOOK) + 1)


def test_flags_or_an_untrained_base_are_not_the_books_settings():
    flagged = record("convnet-visualize", 42, 12, flags=["--filters", "8"])
    untrained = record("convnet-features", 42, 0.52, weights={"name": "none"})
    rows = {row["name"]: row for row in run_records.table_rows(reproduce.BOOK,
                                                               [flagged, untrained])}
    assert rows["convnet-visualize"]["verdict"].endswith("(not the book's settings: --filters 8)")
    book = record("convnet-features", 1, 0.95, weights={"name": "vgg16.h5", "sha256": "ab"})
    rows = {row["name"]: row for row in run_records.table_rows(reproduce.BOOK,
                                                               [untrained, book])}
    assert rows["convnet-features"]["measured"] == 0.95


def test_the_block_lists_machines_and_distances_from_the_book(tmp_path):
    distance = {"val_accuracy": {"points": 30, "mean_abs_difference": 0.0521},
                "val_loss": {"points": 30, "mean_abs_difference": 0.2}}
    scratch = {**record("convnet-scratch", 42, 0.736, "Xeon-bf16-2c"),
               "book_distance": {"history": distance}}
    for run in (scratch, record("mnist", 42, 0.975)):
        run_records.write_record(run, 1.8e9, tmp_path)
    block = run_records.readme_block(reproduce.BOOK, tmp_path)
    assert "from the 2 run records in `data/records/` (2 of them in the table)" in block
    assert "- `EPYC-bf16-2c`: EPYC-bf16-2c, 2 cores (no AVX2); GPU: none; Linux; Python " \
           "3.11, TensorFlow 2.21, Keras 3.15 (tensorflow backend)." in block
    assert "- convnet-scratch: history val_accuracy 0.052 over 30 epochs\n" in block
    assert block.count("no record yet") == len(reproduce.BOOK) + 1 - 2  # boston: two rows


def test_machine_names():
    def name(cpu, flags=(), cores=2, gpu="none"):
        return run_records.machine_name({"cpu": cpu, "cpu_flags": list(flags), "cores": cores,
                                          "gpu": gpu})

    assert name("AMD EPYC", ["avx2", "avx512_bf16"]) == "EPYC-bf16-2c"
    assert name("Intel(R) Xeon(R) Platinum 8480+", ["amx_bf16", "avx512_bf16"], 16) == \
        "Xeon-amx-16c"
    assert name("AMD EPYC 9654", gpu="GPU 0: NVIDIA H200") == "EPYC-2c-H200"


def test_an_unreadable_record_stops_the_table(tmp_path):
    (tmp_path / "mnist-seed42-x.json").write_text("{not json")
    with pytest.raises(run_records.InputError, match="mnist-seed42-x.json"):
        run_records.read_records(tmp_path)


def test_a_fresh_clone_rewrites_the_readme_from_the_records_alone(tmp_path, monkeypatch):
    """`reproduce.py --reuse --update-readme` with no runs and no --data-dir trains nothing
    and writes the README's block from data/records/: the committed README is what the
    committed records give (this keeps the two in step), and a second call changes nothing."""
    (tmp_path / "records").mkdir()  # a clone before the first record has none
    for path in (REPO_ROOT / "data" / "records").glob("*.json"):
        shutil.copy(path, tmp_path / "records")
    readme = tmp_path / "README.md"
    shutil.copy(REPO_ROOT / "README.md", readme)
    no_example_starts(monkeypatch)
    for _ in range(2):
        result = run_script("reproduce", "--reuse", "--update-readme", readme, "--records-dir",
                            tmp_path / "records", "--output-dir", tmp_path / "runs")
        assert result.returncode == 0, result.stderr[-3000:]
        assert readme.read_text() == (REPO_ROOT / "README.md").read_text()
    block = readme.read_text().split(reproduce_table.README_START)[1].split(
        reproduce_table.README_END)[0]
    assert "this machine" not in block and " minutes" not in block
    assert not list(Path(tmp_path / "runs" / "examples").glob("**/metrics.json"))
