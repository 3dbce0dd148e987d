"""Chapter 4 - Fundamentals of machine learning.

What the script shows, in the book's order:

1. protocols      Evaluation protocols as small reusable functions - hold-out validation,
                  K-fold validation and iterated K-fold validation with shuffling - each
                  returning the score of every split and their mean. They are tried on
                  the IMDB reviews with the Dense 16-16 model of chapter 3.
2. preprocessing  Vectorization, normalization with statistics taken from the training
                  data only, and missing values, on small made-up arrays.
3. Overfitting and underfitting on IMDB (10,000 most frequent words, multi-hot vectors),
   20 epochs per model, validation loss compared in one PNG per comparison:
      size        the original Dense 16-16 model vs a smaller (4-4) and a bigger (512-512)
      l2          the original vs the same model with L2 weight regularization (0.001)
      dropout     the original vs the same model with Dropout(0.5) after each hidden layer
   A table gives each model's best validation loss and the epoch it was reached.
4. The universal workflow of machine learning, printed as a checklist.

Book reference (1st edition, section 4.4): the original model starts overfitting after about
4 epochs; the smaller model overfits later and more slowly; the bigger one overfits almost
at once and its validation loss is noisier; L2 and dropout both keep the validation loss
lower for longer. (The book validates on the test set there; this script keeps the test
set out of it and holds out 40% of the training reviews - 10,000 of 25,000 - instead.)

Run it:
    python files/fundamentals.py                        # IMDB via keras.datasets
    python files/fundamentals.py --data-dir ~/data      # offline: reads ~/data/imdb.npz
    python files/fundamentals.py --experiment dropout   # one comparison only
    python files/fundamentals.py --experiment overfitting  # section 3's three comparisons
    python files/fundamentals.py --smoke                # seconds, on the project's sample data
    python files/fundamentals.py --data-dir data/sample --batch-size 32
        # all 20 epochs on the 800 sample reviews; the smaller batches give each epoch
        # 15 steps instead of 1, enough to see the bigger model overfit
"""

# First: importing support checks the Keras backend setting before Keras loads.
from support import book_curves, command_line, datasets, outputs

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import layers

import helpers

SCRIPT = "fundamentals"
NUM_WORDS = 10_000  # keep the 10,000 most frequent words, as in chapter 3
VALIDATION_FRACTION = 0.4  # 10,000 of IMDB's 25,000 training reviews

EXPERIMENTS = ("protocols", "preprocessing", "size", "l2", "dropout")  # --only takes these


# ======================================================================================
# 1. Evaluation protocols
# ======================================================================================
#
# Each protocol takes the data and a function `train_and_score(x_train, y_train, x_val,
# y_val)` that builds a *fresh* model, trains it and returns its validation score. That
# keeps the protocol (which samples go where) apart from the model.

PROTOCOL_SAMPLES = 5_000  # the protocol demo trains 17 models: a subset keeps it quick
PROTOCOL_EPOCHS = 4  # where chapter 3 found the 16-16 model's validation loss lowest
PROTOCOL_K, PROTOCOL_ITERATIONS = 4, 3  # --smoke: 2 and 2, to train fewer models


def hold_out_split(num_samples, validation_fraction=0.2, seed=None):
    """Indices (train, validation): a random `validation_fraction` of the samples is held out.

    Shuffling first matters when the data is ordered (by date, by class...); `seed=None`
    keeps the given order.
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    order = np.arange(num_samples)
    if seed is not None:
        order = np.random.default_rng(seed).permutation(num_samples)
    num_validation = int(round(num_samples * validation_fraction))
    if not 0 < num_validation < num_samples:
        raise ValueError(f"{num_samples} samples are too few to hold out {validation_fraction}")
    return order[num_validation:], order[:num_validation]


def k_fold_splits(num_samples, k):
    """Yield (train, validation) indices for each of the k folds, in order.

    The folds have equal sizes (give or take one sample), so every sample is validated
    exactly once and trained on k - 1 times.
    """
    if not 2 <= k <= num_samples:
        raise ValueError(f"k must be between 2 and the number of samples, got {k}")
    folds = np.array_split(np.arange(num_samples), k)
    for i in range(k):
        training = np.concatenate(folds[:i] + folds[i + 1 :])
        yield training, folds[i]


def iterated_k_fold_splits(num_samples, k, iterations, seed=0):
    """Yield the (train, validation) indices of `iterations` K-fold rounds, reshuffling
    the samples before each round; the same seed gives the same splits."""
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        order = rng.permutation(num_samples)
        for training, validation in k_fold_splits(num_samples, k):
            yield order[training], order[validation]


def _score_splits(x, y, train_and_score, splits):
    scores = [train_and_score(x[train], y[train], x[val], y[val]) for train, val in splits]
    return scores, float(np.mean(scores))


def hold_out_validation(x, y, train_and_score, validation_fraction=0.2, seed=0):
    """One model, one validation set: cheap, but the score depends on which samples
    happened to land in the validation set. Returns ([score], score)."""
    split = hold_out_split(len(x), validation_fraction, seed)
    return _score_splits(x, y, train_and_score, [split])


def k_fold_validation(x, y, train_and_score, k=4):
    """k models, each validated on a different fold. Returns (k scores, their mean)."""
    return _score_splits(x, y, train_and_score, k_fold_splits(len(x), k))


def iterated_k_fold_validation(x, y, train_and_score, k=4, iterations=3, seed=0):
    """K-fold repeated with a fresh shuffle each time: k * iterations models, the most
    reliable estimate when data is scarce. Returns (all scores, their mean)."""
    splits = iterated_k_fold_splits(len(x), k, iterations, seed)
    return _score_splits(x, y, train_and_score, splits)


def run_protocols(args, x, y):
    print("\n=== 1. Evaluation protocols ===")
    x, y = x[:PROTOCOL_SAMPLES], y[:PROTOCOL_SAMPLES]
    epochs = min(PROTOCOL_EPOCHS, args.epochs)
    k, iterations = (2, 2) if args.smoke else (PROTOCOL_K, PROTOCOL_ITERATIONS)

    def train_and_score(x_train, y_train, x_val, y_val):
        model = build_model(**MODELS["original"])  # a fresh, untrained model every time
        model.fit(x_train, y_train, epochs=epochs, batch_size=args.batch_size, verbose=0)
        _, accuracy = model.evaluate(x_val, y_val, verbose=0)
        return accuracy

    print(f"  Dense 16-16 on {len(x)} reviews, {epochs} epochs per model, k={k}, "
          f"{iterations} iterations; score = validation accuracy")
    protocols = {
        "holdout": hold_out_validation(x, y, train_and_score, validation_fraction=0.2,
                                       seed=args.seed),
        "kfold": k_fold_validation(x, y, train_and_score, k=k),
        "iterated_kfold": iterated_k_fold_validation(x, y, train_and_score, k=k,
                                                     iterations=iterations, seed=args.seed),
    }
    for name, (scores, mean) in protocols.items():
        listed = " ".join(f"{score:.3f}" for score in scores)
        print(f"  {name:<15} {len(scores):2d} models  mean {mean:.4f}  scores {listed}")
    results = {f"{name}_accuracy": mean for name, (_, mean) in protocols.items()}
    extra = {"protocol_scores": {name: scores for name, (scores, _) in protocols.items()}}
    return results, extra


# ======================================================================================
# 2. Data preprocessing
# ======================================================================================


def normalize(train, test):
    """Scale each feature to mean 0 and standard deviation 1 *using training statistics
    only*: the test data must not leak into anything the model learns from."""
    mean = np.nanmean(train, axis=0)
    std = np.nanstd(train, axis=0)
    std[std == 0] = 1.0  # a constant feature stays 0 instead of becoming NaN
    return (train - mean) / std, (test - mean) / std


def fill_missing(x, value=0.0):
    """Replace missing entries (NaN) by `value`. After normalization 0 is the feature's
    training mean, a neutral value the network learns to ignore."""
    return np.where(np.isnan(x), value, x)


def with_artificial_missing(x, feature, fraction, rng):
    """Copies of some training samples with `feature` blanked out: if the test data can
    lack a feature that the training data never lacks, the network must see examples."""
    picked = rng.choice(len(x), size=max(1, int(len(x) * fraction)), replace=False)
    copies = x[picked].copy()
    copies[:, feature] = np.nan
    return np.concatenate([x, copies])


def show_preprocessing():
    print("\n=== 2. Data preprocessing ===")
    # Vectorization: a network only takes tensors of floats, so words become vectors.
    sequences = [[1, 3, 5], [2, 3], [0]]
    print("  Vectorization: word-id lists -> multi-hot rows")
    for sequence, row in zip(sequences, helpers.vectorize_sequences(sequences, 6), strict=True):
        print(f"    {str(sequence):<10} -> {row}")
    labels = np.array([0, 2, 1])
    print(f"    labels {labels} -> one-hot rows "
          f"{keras.utils.to_categorical(labels, 3).tolist()}")

    # Normalization: features on wildly different scales (age in years, income in dollars)
    # would make the big ones dominate the gradient updates.
    rng = np.random.default_rng(0)
    data = np.column_stack([rng.normal(40, 12, 300), rng.normal(50_000, 15_000, 300)])
    train, test = data[:200], data[200:]
    train_norm, test_norm = normalize(train, test)
    print("\n  Normalization with training statistics (features: age, income)")
    print(f"    before:       train mean {train.mean(axis=0).round(1)}, "
          f"std {train.std(axis=0).round(1)}")
    print(f"    after, train: mean {train_norm.mean(axis=0).round(3)}, "
          f"std {train_norm.std(axis=0).round(3)}")
    # The test set lands close to, but not exactly at, mean 0 / std 1 - as it should.
    print(f"    after, test:  mean {test_norm.mean(axis=0).round(3)}, "
          f"std {test_norm.std(axis=0).round(3)}")

    # Missing values.
    with_gaps = train[:4].copy()
    with_gaps[1, 0] = np.nan
    with_gaps[3, 1] = np.nan
    gaps_norm, _ = normalize(with_gaps, with_gaps)
    print("\n  Missing values: normalize, then fill the gaps with 0 (the training mean)")
    print(f"    {fill_missing(gaps_norm).round(2).tolist()}")
    augmented = with_artificial_missing(train, feature=1, fraction=0.1, rng=rng)
    print(f"    training set {train.shape} + copies without income -> {augmented.shape}")
    return {"normalized_train_mean": train_norm.mean(axis=0).tolist(),
            "normalized_test_mean": test_norm.mean(axis=0).tolist()}


# ======================================================================================
# 3. Overfitting and underfitting
# ======================================================================================

# The models of section 4.4, by name: hidden units, L2 factor, dropout rate.
MODELS = {
    "original": {"units": 16},
    "smaller": {"units": 4},
    "bigger": {"units": 512},
    "l2": {"units": 16, "l2": 0.001},
    "dropout": {"units": 16, "dropout": 0.5},
}
# Each comparison sets models side by side with the original one.
COMPARISONS = {
    "size": ("original", "smaller", "bigger"),
    "l2": ("original", "l2"),
    "dropout": ("original", "dropout"),
}


def build_model(units=16, l2=None, dropout=None):
    """The IMDB classifier of chapter 3, with a configurable size and regularization."""
    regularizer = keras.regularizers.l2(l2) if l2 else None
    model = keras.Sequential([keras.Input(shape=(NUM_WORDS,))])
    for _ in range(2):
        model.add(layers.Dense(units, activation="relu", kernel_regularizer=regularizer))
        if dropout:
            # Zero out a random half of the layer's outputs during training only.
            model.add(layers.Dropout(dropout))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def describe_model(name):
    settings = MODELS[name]
    text = f"Dense {settings['units']}-{settings['units']}"
    if settings.get("l2"):
        text += f", L2 {settings['l2']}"
    if settings.get("dropout"):
        text += f", Dropout {settings['dropout']}"
    return text


def train_model(args, name, data):
    x_train, y_train, x_val, y_val = data
    # The same seed for every model: differences come from the model, not from luck.
    keras.utils.set_random_seed(args.seed)
    model = build_model(**MODELS[name])
    print(f"\n  Training '{name}' ({describe_model(name)}, {model.count_params():,} parameters)")
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(x_val, y_val), verbose=args.verbose)
    return history.history


def plot_comparison(histories, names, path, title, train_size):
    """Validation and training loss of the models side by side, each beside the book's own
    curve (dashed, same colour). The book trained on all 25,000 training reviews, this script
    on `train_size` of them, so the x axis counts training reviews seen, not epochs."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    captions = []
    for name, style in zip(names, ("o-", "s-", "^-"), strict=False):
        curves, book = histories[name], book_curves.book_history(SCRIPT, name)
        label = f"{name} ({describe_model(name)})"
        for ax, key in zip(axes, ("val_loss", "loss"), strict=True):
            seen = helpers.epoch_axis(len(curves[key]), train_size)  # thousands of reviews
            (line,) = ax.plot(seen, curves[key], style, markersize=3, label=label)
            book_curves.plot_book_curve(ax, line, book["history"][key], book["examples_per_epoch"],
                                    name)
        distance = book_curves.book_distance(curves, book, "val_loss", train_size)
        if distance:
            captions.append(f"{name} {distance['mean_abs_difference']:.3f}")
    for ax, which in zip(axes, ("Validation", "Training"), strict=True):
        ax.set_title(f"{which} loss")
        ax.set_xlabel("training reviews seen (thousands)")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    note = book_curves.book_history(SCRIPT, names[0])["note"]
    caption = (f"dashed: the book's runs (section 4.4, Keras 2.0.8); {note}; mean |val_loss - "
               f"book| at the same reviews seen: {', '.join(captions)}")
    helpers.add_caption(fig, caption)
    print(f"  {caption}")
    outputs.save_figure(fig, path)
    print(f"  saved {path}")


def best_epochs_table(histories):
    """Each model's lowest validation loss and the (1-based) epoch it was reached."""
    rows = {}
    print("\n  model      best val_loss  at epoch  last val_loss  last train loss")
    for name, curves in histories.items():
        best_epoch = int(np.argmin(curves["val_loss"])) + 1
        rows[name] = {"best_val_loss": min(curves["val_loss"]), "best_epoch": best_epoch}
        print(f"  {name:<10} {rows[name]['best_val_loss']:13.4f}  {best_epoch:8d}  "
              f"{curves['val_loss'][-1]:13.4f}  {curves['loss'][-1]:15.4f}")
    # The L2 penalty is part of the loss Keras reports, so the l2 model's losses include it.
    return rows


# ======================================================================================
# 4. The universal workflow
# ======================================================================================

WORKFLOW = """
=== 4. The universal workflow of machine learning ===
  [ ] 1. Define the problem and assemble a dataset: what are the inputs, what is to be
         predicted, which kind of problem is it (binary, multiclass, regression...)?
  [ ] 2. Choose a measure of success: accuracy, precision and recall, ROC AUC...
  [ ] 3. Decide on an evaluation protocol: hold-out, K-fold or iterated K-fold.
  [ ] 4. Prepare the data: tensors of floats, small values, normalized, missing values
         handled; fit any statistics on the training data only.
  [ ] 5. Develop a model that beats a common-sense baseline (statistical power).
  [ ] 6. Scale up until the model overfits: more layers, more units, more epochs.
  [ ] 7. Regularize and tune hyperparameters against the validation data (dropout,
         weight regularization, a smaller model...), then train the final model on
         training + validation data and evaluate it once on the test set.
"""


# ======================================================================================


def load_imdb_vectors(data_dir):
    """IMDB training reviews as multi-hot vectors, and their labels as floats."""
    (train_data, train_labels), _ = datasets.load_imdb(data_dir, num_words=NUM_WORDS)
    return train_data, np.asarray(train_labels).astype("float32")


def main(argv=None):
    parser = command_line.make_parser(SCRIPT, __doc__, epochs=20, batch_size=512)
    parser.add_argument("--experiment", choices=("all", *EXPERIMENTS, "overfitting"),
                        default="all", help="run one part or one comparison only, or "
                        "overfitting: the three comparisons (default: %(default)s)")
    args = command_line.parse_args(parser, argv, smoke_limits={"epochs": 3})
    command_line.start(args)
    experiments = {"all": EXPERIMENTS, "overfitting": tuple(COMPARISONS)}.get(
        args.experiment, (args.experiment,))

    results, extra = {}, {}
    sequences = labels = None
    if any(name != "preprocessing" for name in experiments):
        sequences, labels = load_imdb_vectors(args.data_dir)
        print(f"IMDB: {len(sequences)} training reviews, {NUM_WORDS:,}-word vocabulary")

    if "protocols" in experiments:
        # Vectorize only the reviews the demo uses.
        x = helpers.vectorize_sequences(sequences[:PROTOCOL_SAMPLES], NUM_WORDS)
        protocol_results, protocol_extra = run_protocols(args, x, labels[:PROTOCOL_SAMPLES])
        results.update(protocol_results)
        extra.update(protocol_extra)

    if "preprocessing" in experiments:
        extra.update(show_preprocessing())

    comparisons = [name for name in experiments if name in COMPARISONS]
    if comparisons:
        print("\n=== 3. Overfitting and underfitting ===")
        # Hold out validation reviews once, the same split for every model. The sequences
        # are split before vectorizing so the big multi-hot matrix is never copied.
        train_idx, val_idx = hold_out_split(len(sequences), VALIDATION_FRACTION, args.seed)
        data = (helpers.vectorize_sequences(sequences[train_idx], NUM_WORDS), labels[train_idx],
                helpers.vectorize_sequences(sequences[val_idx], NUM_WORDS), labels[val_idx])
        print(f"  {len(train_idx)} training and {len(val_idx)} validation reviews, "
              f"{args.epochs} epochs, batch size {args.batch_size}")
        histories = {}
        for comparison in comparisons:
            for name in COMPARISONS[comparison]:
                if name not in histories:  # the original model is trained only once
                    histories[name] = train_model(args, name, data)
            plot_comparison(histories, COMPARISONS[comparison],
                            args.output_dir / f"compare_{comparison}.png",
                            title=f"IMDB: {' vs '.join(COMPARISONS[comparison])}",
                            train_size=len(train_idx))
        table = best_epochs_table(histories)
        for name, row in table.items():
            results[f"{name}_best_val_loss"] = row["best_val_loss"]
            results[f"{name}_best_epoch"] = row["best_epoch"]
        extra["histories"] = histories
        extra["book_history"] = {"histories": {
            name: book_curves.beside_book(book_curves.book_history(SCRIPT, name), curves,
                                      len(train_idx)) for name, curves in histories.items()}}

    print(WORKFLOW)
    outputs.finish(args, SCRIPT, results, details=extra)


if __name__ == "__main__":
    command_line.run(main)
