"""Chapter 2 - The mathematical building blocks of neural networks.

Three parts, in the book's order:

1. tensors     Rank (`ndim`), shape and dtype of a scalar, a vector, a matrix and a 3D
               tensor; the shapes real-world data takes; slicing the MNIST images
               (a few digits are saved as `digits.png`).
2. operations  Element-wise relu and addition written as naive Python loops and compared
               with NumPy (the speed-up is printed and goes on the RESULT line);
               broadcasting; the tensor dot product (naive vs `np.dot`); reshaping
               and transposing.
3. engine      The first MNIST network (Dense 512 relu -> Dense 10 softmax) rebuilt from
               scratch, without Keras layers or `fit`: a naive dense layer whose weights
               are Keras variables, a naive sequential model, a batch generator, the
               gradients of the loss and a hand-written SGD update. The gradients come
               from the backend Keras runs on: `tf.GradientTape` on TensorFlow (the
               book's), `jax.grad` on JAX, `loss.backward()` on PyTorch (KERAS_BACKEND
               picks it). The loss per epoch goes to `engine_loss.png`.

Book reference (this part follows the 2nd edition, section 2.5, "Reimplementing our first
example from scratch"): 10 epochs, batch size 128, plain SGD with learning rate 1e-3,
initial weights uniform in [0, 0.1]. Measured here with exactly those settings: 81.8% test
accuracy. The all-positive initial weights make every hidden unit start large and alike:
steps of 0.01 already make the loss blow up, and 1e-3 learns slowly. So this script keeps
the model, the batch size and the update rule, but by default starts from zero-centered
weights (Glorot uniform, what Keras's Dense layer uses), takes SGD steps of 0.1 and trains
5 epochs instead of 10 to stay well within 2 minutes on a small shared CPU: about 96% test
accuracy on real MNIST (97% with `--epochs 10`). `--book-init --learning-rate 1e-3
--epochs 10` reproduces the book's settings. For comparison, Keras's `fit` with RMSprop
(files/mnist.py) reaches 97.8% (1st edition, section 2.1).

Run it:
    python files/tensors.py                          # all three parts, MNIST via keras.datasets
    python files/tensors.py --data-dir ~/data        # offline: reads ~/data/mnist.npz
    python files/tensors.py --section operations     # one part only
    python files/tensors.py --smoke                  # seconds, on the project's sample digits
"""

import argparse
import math
import time

# First: importing support checks the Keras backend setting before Keras loads.
from support import command_line, datasets, outputs

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

import helpers

SCRIPT = "tensors"
SECTIONS = ("tensors", "operations", "engine")


# ======================================================================================
# 1. Tensors: rank, shape, dtype
# ======================================================================================


def describe(name, x):
    """One line per tensor: its three key attributes."""
    print(f"  {name:<10} ndim={x.ndim}  shape={str(x.shape):<14} dtype={x.dtype}")


def show_tensors(train_images, output_dir):
    print("\n=== 1. Data representations: tensors ===")
    # A tensor's rank is its number of axes; a scalar has none.
    describe("scalar", np.array(12))
    describe("vector", np.array([12, 3, 6, 14]))  # a 4-dimensional vector, but a rank-1 tensor
    describe("matrix", np.array([[5, 78, 2, 34, 0],
                                 [6, 79, 3, 35, 1],
                                 [7, 80, 4, 36, 2]]))
    describe("3D tensor", np.zeros((3, 3, 5), dtype="int64"))

    # Real data almost always has the samples along the first axis (the batch axis).
    print("\n  Real-world data, samples first:")
    real_world = [
        ("vector data", "(samples, features)", (100_000, 3)),
        ("timeseries", "(samples, timesteps, features)", (250, 390, 3)),
        ("images", "(samples, height, width, channels)", (128, 256, 256, 3)),
        ("video", "(samples, frames, height, width, channels)", (4, 240, 144, 256, 3)),
    ]
    for kind, axes, example in real_world:
        print(f"  {kind:<12} {axes:<44} e.g. {example}")

    # The MNIST training images: a rank-3 tensor of 8-bit integers.
    print("\n  MNIST training images:")
    describe("images", train_images)

    # Slicing selects along each axis; ':' keeps the whole axis.
    my_slice = train_images[10:100]
    print(f"  train_images[10:100].shape        = {my_slice.shape}")
    print(f"  train_images[10:100, :, :].shape  = {train_images[10:100, :, :].shape}")
    # The bottom-right 14x14 corner of every image...
    print(f"  train_images[:, 14:, 14:].shape   = {train_images[:, 14:, 14:].shape}")
    # ...and the central 14x14 crop, with negative indices counted from the end.
    print(f"  train_images[:, 7:-7, 7:-7].shape = {train_images[:, 7:-7, 7:-7].shape}")
    # Models see the data in batches: batch n is a slice along the first axis.
    batch_size, n = 128, 3
    batch = train_images[batch_size * n : batch_size * (n + 1)]
    print(f"  batch {n} of {batch_size}: shape {batch.shape}")

    path = output_dir / "digits.png"
    fig, axes = plt.subplots(1, 5, figsize=(10, 2.4))
    for i, ax in enumerate(axes):
        ax.imshow(train_images[i], cmap="binary")
        ax.set_title(f"train_images[{i}]")
        ax.axis("off")
    fig.tight_layout()
    outputs.save_figure(fig, path)
    print(f"  first five digits saved to {path}")
    return {"mnist_train_shape": "x".join(str(d) for d in train_images.shape)}


# ======================================================================================
# 2. Tensor operations
# ======================================================================================

# Naive versions: what NumPy does for us, written out element by element.


def naive_relu(x):
    assert x.ndim == 2
    x = x.copy()  # do not overwrite the input
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] = max(x[i, j], 0)
    return x


def naive_add(x, y):
    assert x.ndim == 2 and x.shape == y.shape
    x = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] += y[i, j]
    return x


def naive_add_matrix_and_vector(x, y):
    # Broadcasting by hand: the vector is reused for every row of the matrix.
    assert x.ndim == 2 and y.ndim == 1 and x.shape[1] == y.shape[0]
    x = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] += y[j]
    return x


def naive_vector_dot(x, y):
    assert x.ndim == 1 and y.ndim == 1 and x.shape[0] == y.shape[0]
    z = 0.0
    for i in range(x.shape[0]):
        z += x[i] * y[i]
    return z


def naive_matrix_vector_dot(x, y):
    assert x.ndim == 2 and y.ndim == 1 and x.shape[1] == y.shape[0]
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        z[i] = naive_vector_dot(x[i, :], y)
    return z


def naive_matrix_dot(x, y):
    # Entry (i, j) is the dot product of row i of x with column j of y.
    assert x.ndim == 2 and y.ndim == 2 and x.shape[1] == y.shape[0]
    z = np.zeros((x.shape[0], y.shape[1]))
    for i in range(x.shape[0]):
        for j in range(y.shape[1]):
            z[i, j] = naive_vector_dot(x[i, :], y[:, j])
    return z


def seconds_per_call(function, *args, min_seconds=0.2):
    """Average time of one call, repeating until at least `min_seconds` have passed."""
    calls, started = 0, time.perf_counter()
    while True:
        function(*args)
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return elapsed / calls


def compare_speed(name, naive, vectorized, *args, min_seconds):
    naive_seconds = seconds_per_call(naive, *args, min_seconds=min_seconds)
    numpy_seconds = seconds_per_call(vectorized, *args, min_seconds=min_seconds)
    speedup = naive_seconds / numpy_seconds
    print(f"  {name:<11} naive {naive_seconds * 1e3:9.3f} ms   NumPy "
          f"{numpy_seconds * 1e3:7.4f} ms   NumPy is {speedup:,.0f}x faster")
    return speedup


def show_operations(smoke):
    print("\n=== 2. Tensor operations ===")
    rng = np.random.default_rng(0)
    # The shapes the book times: two (20, 100) matrices of random floats.
    x = rng.normal(size=(20, 100))
    y = rng.normal(size=(20, 100))
    min_seconds = 0.05 if smoke else 0.5  # longer timing windows give steadier figures

    # Element-wise operations: same result, but NumPy runs compiled (BLAS / SIMD) loops.
    assert np.allclose(naive_relu(x), np.maximum(x, 0.0))
    assert np.allclose(naive_add(x, y), x + y)
    print("  Element-wise operations (results checked equal):")
    relu_speedup = compare_speed("relu", naive_relu, lambda a: np.maximum(a, 0.0), x,
                                 min_seconds=min_seconds)
    add_speedup = compare_speed("addition", naive_add, np.add, x, y, min_seconds=min_seconds)

    # Broadcasting: the smaller tensor is (virtually) repeated along the missing axes.
    print("\n  Broadcasting:")
    big = rng.random((64, 3, 32, 10))
    small = rng.random((32, 10))
    print(f"  np.maximum({big.shape}, {small.shape}).shape = {np.maximum(big, small).shape}")
    matrix, vector = rng.random((3, 4)), rng.random(4)
    assert np.allclose(naive_add_matrix_and_vector(matrix, vector), matrix + vector)
    print(f"  matrix {matrix.shape} + vector {vector.shape} -> {(matrix + vector).shape}, "
          "same as the naive loop")

    # Tensor dot: the contraction dense layers are made of.
    print("\n  Tensor dot (results checked equal):")
    a, b = rng.normal(size=(20, 100)), rng.normal(size=(100, 20))
    assert np.allclose(naive_vector_dot(a[0], b[:, 0]), np.dot(a[0], b[:, 0]))
    assert np.allclose(naive_matrix_vector_dot(a, b[:, 0]), np.dot(a, b[:, 0]))
    assert np.allclose(naive_matrix_dot(a, b), np.dot(a, b))
    dot_speedup = compare_speed("matrix dot", naive_matrix_dot, np.dot, a, b,
                                min_seconds=min_seconds)
    print(f"  (20, 100) . (100, 20) -> {np.dot(a, b).shape}; "
          "the inner dimensions must match")

    # Reshaping keeps the entries in order and only changes how they are grouped.
    print("\n  Reshaping:")
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    print(f"  {x.shape} -> reshape((6, 1)) -> {x.reshape((6, 1)).ravel()} as a column")
    print(f"  {x.shape} -> reshape((2, 3)) -> {x.reshape((2, 3)).tolist()}")
    # Transposing swaps rows and columns: x[i, :] becomes x[:, i].
    print(f"  np.transpose of a (300, 20) matrix has shape "
          f"{np.transpose(np.zeros((300, 20))).shape}")
    return {"relu_speedup": relu_speedup, "add_speedup": add_speedup,
            "dot_speedup": dot_speedup}


# ======================================================================================
# 3. The engine: the first network, from scratch
# ======================================================================================


class NaiveDense:
    """A dense layer: output = activation(dot(input, W) + b), with W and b trainable."""

    def __init__(self, input_size, output_size, activation, book_init=False):
        self.activation = activation
        if book_init:
            # The book's initial weights: small random values in [0, 0.1], all positive.
            low, high = 0.0, 0.1
        else:
            # Centered on zero and scaled to the layer's size ("Glorot uniform", the default
            # of Keras's Dense layer): big SGD steps stay stable, so training is much faster.
            limit = math.sqrt(6 / (input_size + output_size))
            low, high = -limit, limit
        # Keras variables: TensorFlow, JAX or PyTorch tensors underneath, whichever backend
        # Keras runs on (the book's 2nd edition used tf.Variable).
        self.W = keras.Variable(keras.random.uniform((input_size, output_size), minval=low,
                                                     maxval=high))
        self.b = keras.Variable(ops.zeros((output_size,)))

    def __call__(self, inputs):
        return self.activation(ops.matmul(inputs, self.W) + self.b)

    @property
    def weights(self):
        return [self.W, self.b]


class NaiveSequential:
    """Chains layers: each layer's output is the next layer's input."""

    def __init__(self, layers):
        self.layers = layers

    def __call__(self, inputs):
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def weights(self):
        return [weight for layer in self.layers for weight in layer.weights]


class BatchGenerator:
    """Hands out the data one mini-batch at a time, in order (the data is already shuffled)."""

    def __init__(self, images, labels, batch_size=128):
        assert len(images) == len(labels)
        self.index = 0
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.num_batches = math.ceil(len(images) / batch_size)

    def next(self):
        images = self.images[self.index : self.index + self.batch_size]
        labels = self.labels[self.index : self.index + self.batch_size]
        self.index += self.batch_size
        return images, labels


def build_model(book_init=False):
    # The same network as files/mnist.py: 784 -> 512 relu -> 10 softmax.
    return NaiveSequential([
        NaiveDense(28 * 28, 512, activation=ops.relu, book_init=book_init),
        NaiveDense(512, 10, activation=ops.softmax, book_init=book_init),
    ])


def average_loss(model, images_batch, labels_batch):
    predictions = model(images_batch)
    per_sample_losses = keras.losses.sparse_categorical_crossentropy(labels_batch, predictions)
    return ops.mean(per_sample_losses)


# The gradient of the loss with respect to every weight (backpropagation) is the one thing
# each backend computes its own way: one small function per backend. Each takes the model
# and returns a function (images_batch, labels_batch) -> (loss, gradients of the weights).


def gradients_tensorflow(model):
    import tensorflow as tf

    def loss_and_gradients(images_batch, labels_batch):
        # A GradientTape records the forward pass, then differentiates it (the book's way).
        with tf.GradientTape() as tape:
            loss = average_loss(model, images_batch, labels_batch)
        return loss, tape.gradient(loss, model.weights)

    return loss_and_gradients


def gradients_jax(model):
    import jax

    # JAX differentiates a pure function of the weights' values: StatelessScope runs the
    # model with the values it is given in place of the variables' own. jax.jit compiles
    # that function once for all the steps.
    def loss_of(weight_values, images_batch, labels_batch):
        with keras.StatelessScope(state_mapping=list(zip(model.weights, weight_values,
                                                         strict=True))):
            return average_loss(model, images_batch, labels_batch)

    compiled = jax.jit(jax.value_and_grad(loss_of))
    return lambda images_batch, labels_batch: compiled(
        [weight.value for weight in model.weights], images_batch, labels_batch)


def gradients_torch(model):
    def loss_and_gradients(images_batch, labels_batch):
        # PyTorch records the forward pass on the weights themselves; backward() fills in
        # each weight's .grad.
        for weight in model.weights:
            weight.value.grad = None
        loss = average_loss(model, images_batch, labels_batch)
        loss.backward()
        return loss.detach(), [weight.value.grad for weight in model.weights]

    return loss_and_gradients


GRADIENTS = {"tensorflow": gradients_tensorflow, "jax": gradients_jax, "torch": gradients_torch}


def update_weights(gradients, weights, learning_rate):
    # Plain SGD: move every weight a small step against its gradient.
    for g, w in zip(gradients, weights, strict=True):
        w.assign(w.value - g * learning_rate)


def one_training_step(loss_and_gradients, model, images_batch, labels_batch, learning_rate):
    average_loss, gradients = loss_and_gradients(images_batch, labels_batch)
    update_weights(gradients, model.weights, learning_rate)
    return average_loss


def fit(model, images, labels, epochs, batch_size, learning_rate, verbose=2):
    """The training loop `model.fit` hides: epochs of mini-batch steps. Returns mean losses."""
    loss_and_gradients = GRADIENTS[keras.backend.backend()](model)
    epoch_losses = []
    for epoch in range(epochs):
        batch_generator = BatchGenerator(images, labels, batch_size)
        batch_losses = []
        for _ in range(batch_generator.num_batches):
            images_batch, labels_batch = batch_generator.next()
            loss = one_training_step(loss_and_gradients, model, images_batch, labels_batch,
                                     learning_rate)
            batch_losses.append(float(loss))
        epoch_losses.append(float(np.mean(batch_losses)))
        if verbose:
            print(f"  epoch {epoch + 1}/{epochs}: mean training loss {epoch_losses[-1]:.4f}")
    return epoch_losses


def evaluate(model, images, labels):
    # The predicted class is the one with the highest probability.
    predictions = ops.convert_to_numpy(model(images))
    predicted_labels = np.argmax(predictions, axis=1)
    return float(np.mean(predicted_labels == labels))


def run_engine(args, mnist):
    print("\n=== 3. The engine: MNIST from scratch (no Keras layers, no fit) ===")
    (train_images, train_labels), (test_images, test_labels) = mnist
    # Same preparation as with Keras: flat float vectors in [0, 1].
    train_images = train_images.reshape((len(train_images), 28 * 28)).astype("float32") / 255
    test_images = test_images.reshape((len(test_images), 28 * 28)).astype("float32") / 255

    model = build_model(book_init=args.book_init)
    assert len(model.weights) == 4  # W and b of each of the two layers
    print(f"  {len(train_images)} training images, batch size {args.batch_size}, "
          f"learning rate {args.learning_rate}, {args.epochs} epochs, "
          f"{'the book' if args.book_init else 'Glorot uniform'} initial weights")
    train_started = time.perf_counter()
    losses = fit(model, train_images, train_labels, args.epochs, args.batch_size,
                 args.learning_rate, verbose=args.verbose)
    train_seconds = time.perf_counter() - train_started
    test_accuracy = evaluate(model, test_images, test_labels)
    print(f"  test accuracy {test_accuracy:.4f} after {train_seconds:.1f} s of training "
          f"(Keras fit with RMSprop, files/mnist.py: 0.978)")

    figure = helpers.plot_history({"loss": losses}, ["loss"],
                                  title="MNIST from scratch: Dense 512 -> 10, plain SGD")
    outputs.save_figure(figure, args.output_dir / "engine_loss.png")
    results = {"test_accuracy": test_accuracy, "first_epoch_loss": losses[0],
               "last_epoch_loss": losses[-1], "train_seconds": train_seconds}
    return results, {"history": {"loss": losses}}


# ======================================================================================


def positive_float(text):
    """argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def main(argv=None):
    parser = command_line.make_parser(SCRIPT, __doc__, epochs=5, batch_size=128)
    parser.add_argument("--section", choices=("all", *SECTIONS), default="all",
                        help="run one part only (default: %(default)s)")
    parser.add_argument("--learning-rate", type=positive_float, default=0.1,
                        help="SGD step of the from-scratch network (default: %(default)s; "
                             "the book: 1e-3)")
    parser.add_argument("--book-init", action="store_true",
                        help="start from the book's initial weights, uniform in [0, 0.1], "
                             "instead of Glorot uniform (use with --learning-rate 1e-3)")
    args = command_line.parse_args(parser, argv, smoke_limits={"epochs": 2})
    command_line.start(args)
    sections = SECTIONS if args.section == "all" else (args.section,)

    mnist = None
    if "tensors" in sections or "engine" in sections:
        mnist = datasets.load_mnist(args.data_dir)

    results, extra = {}, {}
    if "tensors" in sections:
        extra.update(show_tensors(mnist[0][0], args.output_dir))
    if "operations" in sections:
        results.update(show_operations(args.smoke))
    if "engine" in sections:
        engine_results, engine_extra = run_engine(args, mnist)
        results.update(engine_results)
        extra.update(engine_extra)

    outputs.finish(args, SCRIPT, results, details=extra)


if __name__ == "__main__":
    command_line.run(main)
