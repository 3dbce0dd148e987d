"""Chapter 3 - Classifying movie reviews: a binary classification example (IMDB).

Each of the 50,000 IMDB reviews is a list of word ids; the label says whether the
review is positive (1) or negative (0). Keeping the 10,000 most frequent words, every
review becomes a multi-hot vector of 10,000 zeros and ones, and a small stack of Dense
layers learns to tell good reviews from bad ones.

The script follows the book in two phases:
1. Validation: train 20 epochs with 10,000 training reviews held out, and plot training
   vs validation loss and accuracy. Validation loss bottoms out after about 4 epochs:
   after that the network overfits.
2. Final model: a fresh network trained 4 epochs on all 25,000 training reviews, then
   evaluated once on the test set.

Book result (1st edition, section 3.4): about 88% test accuracy (88.5%).

Run it:
    python files/imdb.py                      # downloads IMDB through keras.datasets
    python files/imdb.py --data-dir ~/data    # offline: ~/data/imdb.npz + imdb_word_index.json
    python files/imdb.py --smoke              # seconds, on the project's sample reviews
"""

# First: importing support checks the Keras backend setting before Keras loads.
from support import book_curves, command_line, datasets, outputs
from support.book_numbers import BOOK

import keras
import numpy as np
from keras import layers

import helpers

SCRIPT = "imdb"
NUM_WORDS = 10000  # keep the 10,000 most frequent words; rarer ones become "out of vocabulary"


def build_model():
    # Two 16-unit relu layers, then one sigmoid unit: the probability that a review is positive.
    model = keras.Sequential([
        keras.Input(shape=(NUM_WORDS,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    parser = command_line.make_parser(SCRIPT, __doc__, epochs=20, batch_size=512)
    parser.add_argument("--final-epochs", type=command_line.positive_int, default=4,
                        help="epochs for the final model trained on all training data "
                             "(default: %(default)s, where validation loss was lowest)")
    parser.add_argument("--validation-size", type=command_line.positive_int, default=10000,
                        help="training reviews held out in phase 1 (default: %(default)s)")
    args = command_line.parse_args(parser, argv,
                                   smoke_limits={"epochs": 4, "validation_size": 200})
    command_line.start(args)

    # --- The IMDB dataset -----------------------------------------------------------------
    (train_data, train_labels), (test_data, test_labels) = datasets.load_imdb(
        args.data_dir, num_words=NUM_WORDS)
    if args.validation_size >= len(train_data):
        parser.error(f"--validation-size must be below the {len(train_data)} training reviews")
    print(f"{len(train_data)} training and {len(test_data)} test reviews; "
          f"the first one has {len(train_data[0])} words, label {train_labels[0]}")

    # Word ids back to words: the index is offset by 3 because 0, 1 and 2 are reserved
    # (padding, start of sequence, unknown word).
    word_index = datasets.load_word_index("imdb", args.data_dir)
    print("first review, decoded:", helpers.decode_words(train_data[0], word_index)[:500])

    # --- Preparing the data: multi-hot vectors -----------------------------------------------
    x_train = helpers.vectorize_sequences(train_data, NUM_WORDS)
    x_test = helpers.vectorize_sequences(test_data, NUM_WORDS)
    y_train = np.asarray(train_labels).astype("float32")
    y_test = np.asarray(test_labels).astype("float32")

    # --- Phase 1: validating the approach ----------------------------------------------------
    # Hold out part of the training data to watch for overfitting; the test set stays unseen.
    x_val, partial_x_train = x_train[:args.validation_size], x_train[args.validation_size:]
    y_val, partial_y_train = y_train[:args.validation_size], y_train[args.validation_size:]
    model = build_model()
    validation = model.fit(partial_x_train, partial_y_train, epochs=args.epochs,
                           batch_size=args.batch_size, validation_data=(x_val, y_val),
                           verbose=args.verbose)
    # The book's own curves beside this run's (dashed): the same split, Keras 2.0.8.
    book = {"validation_history": book_curves.of("imdb", "validation"),
            "history": book_curves.of("imdb", "final")}
    figure = helpers.plot_history(validation, ["loss", "accuracy"],
                                  title="IMDB: training vs validation",
                                  book=book["validation_history"],
                                  examples_per_epoch=len(partial_x_train))
    outputs.save_figure(figure, args.output_dir / "validation.png")
    val_loss = validation.history["val_loss"]
    best_epoch = int(np.argmin(val_loss)) + 1
    print(f"lowest validation loss {min(val_loss):.4f} at epoch {best_epoch} "
          f"(the book sees it around epoch 4)")

    # --- Phase 2: a fresh model on all training data -------------------------------------------
    # Retrain from scratch for only as many epochs as validation suggested, so the final
    # model stops before it starts to overfit.
    model = build_model()
    final = model.fit(x_train, y_train, epochs=args.final_epochs, batch_size=args.batch_size,
                      verbose=args.verbose)
    figure = helpers.plot_history(final, ["loss", "accuracy"],
                                  title="IMDB: the final model", book=book["history"],
                                  examples_per_epoch=len(x_train))
    outputs.save_figure(figure, args.output_dir / "final.png")
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {test_accuracy:.4f} (book: {BOOK['imdb']}), test loss {test_loss:.4f}")

    # --- Using the trained network: predictions on new reviews ---------------------------------
    predictions = model.predict(x_test[:5], verbose=0).ravel()
    for probability, label in zip(predictions, test_labels[:5], strict=True):
        print(f"  predicted P(positive) {probability:.3f}   true label {label}")

    outputs.finish(
        args, SCRIPT,
        {"test_accuracy": test_accuracy, "test_loss": test_loss, "best_epoch": best_epoch},
        details={"history": final.history, "validation_history": validation.history},
        book={"history": (book["history"], len(x_train)),
              "validation_history": (book["validation_history"], len(partial_x_train))})


if __name__ == "__main__":
    command_line.run(main)
