"""Chapter 3 - Predicting house prices: a regression example (Boston housing).

506 Boston suburbs in the mid-1970s, 13 numeric features each (crime rate, rooms per
dwelling, tax rate, ...), and the median home price in thousands of dollars to predict.
Only 404 training samples: too few for a single validation split to be trusted, so the
book evaluates with K-fold cross-validation.

What the script shows, in book order:
1. Feature-wise normalization, with the mean and standard deviation of the *training*
   data only (the test data must not leak into preprocessing).
2. A small network (Dense 64-64-1, no activation on the output: a regression predicts
   any real number), mean squared error loss, mean absolute error (MAE) as the metric.
3. 4-fold cross-validation at 100 epochs: the MAE of each fold and their mean.
4. 500-epoch validation MAE curves averaged over the folds, plotted after dropping the
   first 10 points and smoothing (exponential moving average), to see where
   overfitting starts (around epoch 80).
5. A final model trained 80 epochs (batch 16) on all training data; test MAE.

Book result (1st edition, section 3.6): K-fold mean MAE 2.38; test MAE 2.55, i.e. the
predictions are off by about $2,550.

Run it:
    python files/bostonhousing.py                          # downloads via keras.datasets
    python files/bostonhousing.py --data-dir ~/data        # offline: boston_housing.npz
    python files/bostonhousing.py --kfold-epochs 20 --curve-epochs 100   # a shorter version
    python files/bostonhousing.py --smoke                  # seconds, on sample data
"""

# First: importing support checks the Keras backend setting before Keras loads.
from support import command_line, datasets, outputs
from support.book_numbers import BOOK

import keras
import numpy as np
from keras import layers

import helpers

SCRIPT = "bostonhousing"


def build_model(num_features):
    # Every fold starts from a fresh model; clearing the session frees the previous one.
    keras.backend.clear_session()
    model = keras.Sequential([
        keras.Input(shape=(num_features,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1),  # linear output: the price itself
    ])
    # steps_per_execution runs 64 batches per call into the backend. The updates are the
    # same, but the book's batch size of 1 then trains several times faster. (The PyTorch
    # backend only takes 1.)
    steps_per_execution = 1 if keras.backend.backend() == "torch" else 64
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"],
                  steps_per_execution=steps_per_execution)
    return model


def normalize(train_data, test_data):
    """Center and scale every feature with statistics of the training data only."""
    mean = train_data.mean(axis=0)
    std = train_data.std(axis=0)
    return (train_data - mean) / std, (test_data - mean) / std


def kfold_splits(num_samples, k):
    """(train indices, validation indices) of each fold: K consecutive validation blocks."""
    fold_size = num_samples // k
    for fold in range(k):
        val = np.arange(fold * fold_size, (fold + 1) * fold_size)
        train = np.concatenate([np.arange(0, fold * fold_size),
                                np.arange((fold + 1) * fold_size, num_samples)])
        yield train, val


def smooth_curve(points, factor=0.9):
    """Exponential moving average: each point is 90% the previous smoothed point."""
    smoothed = []
    for point in points:
        smoothed.append(smoothed[-1] * factor + point * (1 - factor) if smoothed else point)
    return smoothed


def main(argv=None):
    parser = command_line.make_parser(SCRIPT, __doc__, epochs=80, batch_size=16)
    parser.description += ("\n--epochs and --batch-size set the final model; the K-fold runs "
                           "have their own flags below.")
    parser.add_argument("--folds", type=command_line.int_in_range(2), default=4,
                        help="K in K-fold cross-validation, at least 2 and at most the number "
                             "of training samples (default: %(default)s)")
    parser.add_argument("--kfold-epochs", type=command_line.positive_int, default=100,
                        help="epochs of each fold in the K-fold evaluation (default: %(default)s)")
    parser.add_argument("--curve-epochs", type=command_line.positive_int, default=500,
                        help="epochs of each fold for the validation MAE curve "
                             "(default: %(default)s)")
    parser.add_argument("--kfold-batch-size", type=command_line.positive_int, default=1,
                        help="batch size of the K-fold runs (default: %(default)s, as in the book)")
    # --smoke: 2 folds of at most 3 epochs in batches of 16 or more, a shorter curve.
    args = command_line.parse_args(parser, argv, smoke_limits={
        "epochs": 20, "folds": 2, "kfold_epochs": 3, "kfold_batch_size": (16, None),
        "curve_epochs": 15})
    command_line.start(args)

    # --- The data ------------------------------------------------------------------------------
    (train_data, train_targets), (test_data, test_targets) = datasets.load_boston_housing(
        args.data_dir)
    print(f"train {train_data.shape}, test {test_data.shape}; "
          f"prices from {train_targets.min():.1f} to {train_targets.max():.1f} thousand dollars")
    if args.folds > len(train_data):
        parser.error(f"argument --folds: must be at most the {len(train_data)} training "
                     f"samples, got {args.folds}")
    train_data, test_data = normalize(train_data, test_data)
    num_features = train_data.shape[1]

    # --- K-fold validation ---------------------------------------------------------------------
    # Each fold trains a fresh model on K-1 parts and validates on the remaining part; the
    # mean over folds is far less noisy than any single split of 404 samples.
    fold_maes = []
    for fold, (train_idx, val_idx) in enumerate(kfold_splits(len(train_data), args.folds)):
        model = build_model(num_features)
        model.fit(train_data[train_idx], train_targets[train_idx], epochs=args.kfold_epochs,
                  batch_size=args.kfold_batch_size, verbose=0)
        _, val_mae = model.evaluate(train_data[val_idx], train_targets[val_idx], verbose=0)
        fold_maes.append(val_mae)
        print(f"fold {fold + 1}/{args.folds}: validation MAE {val_mae:.3f}", flush=True)
    kfold_mae = float(np.mean(fold_maes))
    print(f"K-fold mean validation MAE {kfold_mae:.3f} (book: {BOOK['bostonhousing']})")

    # --- Validation MAE per epoch, averaged over the folds ---------------------------------------
    curves = []
    for train_idx, val_idx in kfold_splits(len(train_data), args.folds):
        model = build_model(num_features)
        history = model.fit(train_data[train_idx], train_targets[train_idx],
                            validation_data=(train_data[val_idx], train_targets[val_idx]),
                            epochs=args.curve_epochs, batch_size=args.kfold_batch_size, verbose=0)
        curves.append(history.history["val_mae"])
    average_mae = np.mean(curves, axis=0)
    best_curve_epoch = int(np.argmin(average_mae)) + 1
    print(f"averaged validation MAE is lowest at epoch {best_curve_epoch} "
          f"({average_mae.min():.3f}); the book picks 80 epochs")
    plot_validation_curve(average_mae, args.output_dir / "validation_mae.png")

    # --- The final model -------------------------------------------------------------------------
    model = build_model(num_features)
    final = model.fit(train_data, train_targets, epochs=args.epochs, batch_size=args.batch_size,
                      verbose=args.verbose)
    test_mse, test_mae = model.evaluate(test_data, test_targets, verbose=0)
    print(f"test MAE {test_mae:.3f} thousand dollars: predictions are off by about "
          f"${test_mae * 1000:,.0f} (book: {BOOK['bostonhousing:test_mae']}, about "
          f"${BOOK['bostonhousing:test_mae'] * 1000:,.0f})")
    figure = helpers.plot_history(final, ["loss", "mae"], title="Boston housing: final model")
    outputs.save_figure(figure, args.output_dir / "final_training.png")

    outputs.finish(args, SCRIPT, {"test_mae": test_mae, "test_mae_dollars": round(test_mae * 1000),
                                  "kfold_mae": kfold_mae, "test_mse": test_mse},
                   details={"fold_maes": fold_maes, "history": final.history,
                            "average_val_mae_per_epoch": average_mae.tolist()})


def plot_validation_curve(average_mae, path, skip_first=10):
    """The averaged validation MAE, first points dropped (they dwarf the rest), smoothed."""
    import matplotlib.pyplot as plt

    points = average_mae[skip_first:] if len(average_mae) > 2 * skip_first else average_mae
    start = len(average_mae) - len(points) + 1
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(start, len(average_mae) + 1), points, color="0.75", label="averaged over folds")
    ax.plot(range(start, len(average_mae) + 1), smooth_curve(points), label="smoothed")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MAE (thousand $)")
    ax.set_title("K-fold validation MAE per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    outputs.save_figure(fig, path)


if __name__ == "__main__":
    command_line.run(main)
