"""Chapter 2 - A first look at a neural network: classifying MNIST digits.

The book's very first network: two Dense layers learn to read handwritten digits
(28x28 grayscale images, 10 classes) from 60,000 training images, and are then
judged on 10,000 test images they have never seen.

Book result (1st edition, section 2.1): 97.8% test accuracy after 5 epochs.

Run it:
    python files/mnist.py                      # downloads MNIST through keras.datasets
    python files/mnist.py --data-dir ~/data    # offline: reads ~/data/mnist.npz
    python files/mnist.py --smoke              # seconds, on the project's sample digits
"""

# First: importing support checks the Keras backend setting before Keras loads.
from support import book_curves, command_line, datasets, outputs
from support.book_numbers import BOOK

import keras
from keras import layers

import helpers

SCRIPT = "mnist"


def build_model():
    # Two fully connected layers: 512 relu units, then a 10-way softmax that returns
    # one probability per digit class.
    model = keras.Sequential([
        keras.Input(shape=(28 * 28,)),
        layers.Dense(512, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    # Integer labels 0-9 work directly with the "sparse" form of categorical cross-entropy.
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def main(argv=None):
    parser = command_line.make_parser(SCRIPT, __doc__, epochs=5, batch_size=128)
    args = command_line.parse_args(parser, argv, smoke_limits={"epochs": 3})
    command_line.start(args)

    # --- The data --------------------------------------------------------------------
    (train_images, train_labels), (test_images, test_labels) = datasets.load_mnist(args.data_dir)
    print(f"train images {train_images.shape} {train_images.dtype}, "
          f"test images {test_images.shape}; first labels {train_labels[:10]}")

    # --- Preparing the images -----------------------------------------------------------
    # The network wants flat vectors of floats in [0, 1], not 28x28 grids of bytes 0-255.
    train_images = train_images.reshape((len(train_images), 28 * 28)).astype("float32") / 255
    test_images = test_images.reshape((len(test_images), 28 * 28)).astype("float32") / 255

    # --- The network and its training ---------------------------------------------------
    model = build_model()
    model.summary()
    history = model.fit(train_images, train_labels, epochs=args.epochs,
                        batch_size=args.batch_size, verbose=args.verbose)
    # The book's own curves beside this run's (dashed): the same network, Keras 2.0.8.
    book = book_curves.of("mnist", "training")
    figure = helpers.plot_history(history, ["loss", "accuracy"],
                                  title="MNIST, Dense 512 -> 10", book=book,
                                  examples_per_epoch=len(train_images))
    outputs.save_figure(figure, args.output_dir / "training.png")

    # --- Evaluation on the test set --------------------------------------------------------
    # Test accuracy a little below training accuracy is the first sign of overfitting.
    test_loss, test_accuracy = model.evaluate(test_images, test_labels, verbose=0)
    print(f"test accuracy {test_accuracy:.4f} (book: {BOOK['mnist']}), test loss {test_loss:.4f}")

    outputs.finish(args, SCRIPT, {"test_accuracy": test_accuracy, "test_loss": test_loss},
                   details={"history": history.history},
                   book={"history": (book, len(train_images))})


if __name__ == "__main__":
    command_line.run(main)
