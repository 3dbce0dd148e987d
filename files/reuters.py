"""Chapter 3 - Classifying newswires: a multiclass classification example (Reuters).

11,228 short Reuters newswires, each labeled with one of 46 topics. As with IMDB, each
newswire becomes a multi-hot vector over the 10,000 most frequent words; the labels are
one-hot encoded and the last layer is a 46-way softmax.

Why 64 units and not 16 as for IMDB: the network has to separate 46 classes, and a
16-dimensional layer would be an information bottleneck that drops what it needs.

The script follows the book in two phases:
1. Validation: 20 epochs with 1,000 training newswires held out; plots of the curves.
   Validation loss is lowest around epoch 9.
2. Final model: a fresh network trained 9 epochs on all training data and evaluated on
   the test set, next to the accuracy of random guessing (about 19%).

Book result (1st edition, section 3.5): about 78% test accuracy.

Run it:
    python files/reuters.py                      # downloads Reuters through keras.datasets
    python files/reuters.py --data-dir ~/data    # offline: reuters.npz + reuters_word_index.json
    python files/reuters.py --smoke              # seconds, on the project's sample newswires
"""

# First: importing support checks the Keras backend setting before Keras loads.
from support import book_curves, command_line, datasets, outputs
from support.book_numbers import BOOK

import keras
import numpy as np
from keras import layers

import helpers

SCRIPT = "reuters"
NUM_WORDS = 10000
NUM_TOPICS = 46


def build_model():
    model = keras.Sequential([
        keras.Input(shape=(NUM_WORDS,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        # One probability per topic; the 46 outputs sum to 1.
        layers.Dense(NUM_TOPICS, activation="softmax"),
    ])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def random_baseline(labels, seed):
    """Accuracy of shuffling the test labels: what a classifier with no skill would score."""
    shuffled = np.random.default_rng(seed).permutation(labels)
    return float(np.mean(shuffled == labels))


def main(argv=None):
    parser = command_line.make_parser(SCRIPT, __doc__, epochs=20, batch_size=512)
    parser.add_argument("--final-epochs", type=command_line.positive_int, default=9,
                        help="epochs for the final model trained on all training data "
                             "(default: %(default)s, where validation loss was lowest)")
    parser.add_argument("--validation-size", type=command_line.positive_int, default=1000,
                        help="training newswires held out in phase 1 (default: %(default)s)")
    args = command_line.parse_args(parser, argv,
                                   smoke_limits={"epochs": 4, "validation_size": 200})
    command_line.start(args)

    # --- The Reuters dataset --------------------------------------------------------------------
    (train_data, train_labels), (test_data, test_labels) = datasets.load_reuters(
        args.data_dir, num_words=NUM_WORDS)
    if args.validation_size >= len(train_data):
        parser.error(f"--validation-size must be below the {len(train_data)} training newswires")
    print(f"{len(train_data)} training and {len(test_data)} test newswires; "
          f"the first has topic {train_labels[0]}")
    word_index = datasets.load_word_index("reuters", args.data_dir)
    print("first newswire, decoded:", helpers.decode_words(train_data[0], word_index)[:400])

    # --- Preparing the data ---------------------------------------------------------------------
    x_train = helpers.vectorize_sequences(train_data, NUM_WORDS)
    x_test = helpers.vectorize_sequences(test_data, NUM_WORDS)
    # One-hot labels for categorical_crossentropy. (Integer labels with
    # sparse_categorical_crossentropy would train the same network.)
    y_train = keras.utils.to_categorical(train_labels, NUM_TOPICS)
    y_test = keras.utils.to_categorical(test_labels, NUM_TOPICS)

    # --- Phase 1: validating the approach -------------------------------------------------------
    x_val, partial_x_train = x_train[:args.validation_size], x_train[args.validation_size:]
    y_val, partial_y_train = y_train[:args.validation_size], y_train[args.validation_size:]
    model = build_model()
    validation = model.fit(partial_x_train, partial_y_train, epochs=args.epochs,
                           batch_size=args.batch_size, validation_data=(x_val, y_val),
                           verbose=args.verbose)
    # The book's own curves beside this run's (dashed): the same split, Keras 2.0.8.
    book = {"validation_history": book_curves.of("reuters", "validation"),
            "history": book_curves.of("reuters", "final")}
    figure = helpers.plot_history(validation, ["loss", "accuracy"],
                                  title="Reuters: training vs validation",
                                  book=book["validation_history"],
                                  examples_per_epoch=len(partial_x_train))
    outputs.save_figure(figure, args.output_dir / "validation.png")
    val_loss = validation.history["val_loss"]
    best_epoch = int(np.argmin(val_loss)) + 1
    print(f"lowest validation loss {min(val_loss):.4f} at epoch {best_epoch} "
          f"(the book sees it around epoch 9)")

    # --- Phase 2: a fresh model trained for the best number of epochs ----------------------------
    model = build_model()
    final = model.fit(x_train, y_train, epochs=args.final_epochs, batch_size=args.batch_size,
                      verbose=args.verbose)
    # The notebook's final model differs (its caption says how): 8 epochs, 1,000 held out.
    figure = helpers.plot_history(final, ["loss", "accuracy"],
                                  title="Reuters: the final model", book=book["history"],
                                  examples_per_epoch=len(x_train))
    outputs.save_figure(figure, args.output_dir / "final.png")
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    baseline = random_baseline(np.asarray(test_labels), args.seed)
    print(f"test accuracy {test_accuracy:.4f} (book: about {BOOK['reuters']}), "
          f"test loss {test_loss:.4f}; random guessing scores {baseline:.4f}")

    # --- Predictions on new data ----------------------------------------------------------------
    # Each prediction is a probability distribution over the 46 topics; argmax picks one.
    predictions = model.predict(x_test[:5], verbose=0)
    print("predicted topics", predictions.argmax(axis=1), "true topics", test_labels[:5],
          f"(each row sums to {predictions[0].sum():.3f})")

    outputs.finish(
        args, SCRIPT, {"test_accuracy": test_accuracy, "test_loss": test_loss,
                       "random_baseline_accuracy": baseline, "best_epoch": best_epoch},
        details={"history": final.history, "validation_history": validation.history},
        book={"history": (book["history"], len(x_train)),
              "validation_history": (book["validation_history"], len(partial_x_train))})


if __name__ == "__main__":
    command_line.run(main)
