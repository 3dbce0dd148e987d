"""Make data/book_curves.json: the 1st edition's per-epoch training logs of the runs this
project reproduces, so every training plot can draw the book's curve beside the reader's.

The source is the per-epoch text that the book's companion notebooks printed when they were
run for the book (Keras 2.0.8, TensorFlow backend), collected with its origin (repository,
commit, notebook, cell) in one JSON file. This maker keeps only numbers and where they came
from: the runs this project has a counterpart for, Keras 3's metric names (`acc` is now
`accuracy`), how many training examples one of the book's epochs covered, and a few words
where the book's run differs from the project's (printed in the plot's caption).

    python data/make_book_curves.py path/to/book_curves.json   # rewrites data/book_curves.json

Runs with no per-epoch log are left out: Boston housing (every fit ran with verbose=0),
and chapter 2's from-scratch training loop (it is the 2nd edition's; that edition's
notebooks were published without outputs).
"""

import argparse
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
VGG16_INPUTS = ("book: pixels only rescaled to 0-1; here VGG16's own preprocess_input "
                "(see the README)")
FUNDAMENTALS = ("book: trained on all 25,000 training reviews and validated on the "
                "25,000 test reviews; here 15,000 and 10,000 held-out training reviews")

# The book's run id -> (script, stage, training examples in one of the book's epochs, how the
# book's run differs from the project's or None).
RUNS = {
    "2.1-mnist-dense": ("mnist", "training", 60_000, None),
    "3.5-imdb-validation": ("imdb", "validation", 15_000, None),
    "3.5-imdb-final": ("imdb", "final", 25_000, None),
    "3.6-reuters-validation": ("reuters", "validation", 7_982, None),
    "3.6-reuters-final": ("reuters", "final", 7_982,
                          "book's final model: 8 epochs on the 7,982 newswires left after "
                          "holding out 1,000, not on all 8,982"),
    "4.4-original": ("fundamentals", "original", 25_000, FUNDAMENTALS),
    "4.4-smaller": ("fundamentals", "smaller", 25_000, FUNDAMENTALS),
    "4.4-bigger": ("fundamentals", "bigger", 25_000, FUNDAMENTALS),
    "4.4-l2": ("fundamentals", "l2", 25_000, FUNDAMENTALS),
    "4.4-dropout": ("fundamentals", "dropout", 25_000, FUNDAMENTALS),
    "5.1-mnist-convnet": ("convnet", "mnist", 60_000, None),
    "5.2-scratch": ("convnet", "scratch", 2_000, None),
    "5.2-augment": ("convnet", "augment", 3_200,
                    "book's validation: 1,600 draws from the 1,000 validation pictures "
                    "(50 batches of 32); here each picture once"),
    "5.3-feature-extraction": ("convnet", "features", 2_000, VGG16_INPUTS),
    "5.3-feature-extraction-augment": ("convnet", "features-augment", 2_000, VGG16_INPUTS),
    "5.3-fine-tune": ("convnet", "finetune", 2_000, VGG16_INPUTS),
}
KERAS3_NAMES = {"acc": "accuracy", "val_acc": "val_accuracy"}


def book_curves(source):
    runs = {run["id"]: run for run in source["runs"]}
    curves = {}
    for run_id, (script, stage, examples_per_epoch, note) in RUNS.items():
        run = runs[run_id]
        history = {KERAS3_NAMES.get(key, key): values for key, values in run["history"].items()}
        lengths = {len(values) for values in history.values()}
        assert lengths == {run["epochs"]}, f"{run_id}: {lengths} values, {run['epochs']} epochs"
        curves.setdefault(script, {})[stage] = {
            "run": run_id,
            "notebook": run["notebook"],
            "cell": run["cell_index"],
            "examples_per_epoch": examples_per_epoch,
            "note": note,
            "history": history,
        }
    return {
        "about": "Per-epoch logs printed by the 1st edition's companion notebooks (Keras "
                 "2.0.8), by script and stage; metric names as Keras 3 writes them. Made by "
                 "data/make_book_curves.py.",
        "source": {"repository": source["source"]["repo"],
                   "commit": source["source"]["commit"]},
        "curves": curves,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the collected logs (book_curves.json)")
    parser.add_argument("--out", type=Path, default=HERE / "book_curves.json")
    args = parser.parse_args()
    curves = book_curves(json.loads(args.source.read_text(encoding="utf-8")))
    text = json.dumps(curves, indent=1)
    # One line per curve: a list of numbers reads better flat.
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",
                  lambda match: "[" + " ".join(match.group(1).split()) + "]", text)
    args.out.write_text(text + "\n", encoding="utf-8", newline="\n")  # LF, as committed
    print(f"wrote {args.out} ({sum(len(stages) for stages in curves['curves'].values())} runs)")


if __name__ == "__main__":
    main()
