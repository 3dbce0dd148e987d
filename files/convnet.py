"""Chapter 5 - Deep learning for computer vision: convnets, from MNIST to dogs vs cats.

One stage per section of the book, each a subcommand:

  mnist             5.1  a small convnet on MNIST (Conv2D 32/64/64, max pooling, Dense 64/10)
  prepare           5.2  copy the book's 4,000-image "cats_and_dogs_small" subset out of
                         Kaggle's dogs-vs-cats pictures (or Microsoft's copy of them)
  scratch           5.2  a convnet trained from scratch on 2,000 pictures
  augment           5.2  the same convnet with data augmentation and dropout
  features          5.3  VGG16 (ImageNet) features, extracted once, fed to a Dense classifier
  features-augment  5.3  the frozen VGG16 base inside the model, trained with augmentation
  finetune          5.3  the features-augment model with VGG16's block5 unfrozen
  visualize         5.4  intermediate activations, VGG16 filter patterns, Grad-CAM heatmap
  benchmark         --   not a book section: the book's ImageDataGenerator vs tf.data, timed

Book results (1st edition): mnist 99.1% test accuracy; scratch ~72% validation accuracy;
augment ~82-84%; features ~90%; features-augment ~96%; finetune 97% (96.8% test).

What changed since the book, and why: pictures come through a tf.data pipeline (checked,
decoded and resized once, then cached; picture_pipeline.py) instead of ImageDataGenerator, and
`fit` replaces `fit_generator`. The book's effective recipe is kept: nearest-neighbour
resizing, and its augmentation settings applied as Keras 2.0.8 applied them (one affine
transform per picture, shear in radians, independent height and width zoom), in the
pipeline rather than as Keras's augmentation layers, which blur and read the settings
differently. An epoch of `augment` is the book's steps_per_epoch=100 batches of 32 (3,200
pictures); the other stages' epochs are one pass over the training pictures, as in the book
(--steps-per-epoch changes it). Every training stage keeps the checkpoint with the lowest
validation loss and tests that one (and reports the last epoch's test accuracy beside it).
`learning_rate=` replaces `lr=`; 5.4 computes its gradients with tf.GradientTape instead of
K.gradients (jax.grad or PyTorch's backward() when KERAS_BACKEND is jax or torch). Training
runs in mixed precision where that is faster at the same accuracy (--no-mixed-precision
turns it off). VGG16 inputs go through `vgg16.preprocess_input`, the preprocessing its
ImageNet weights were trained with (the 1st edition only rescaled them to [0, 1]).

Run it:
    python files/convnet.py mnist --data-dir ~/data      # reads ~/data/mnist.npz
    python files/convnet.py prepare                      # downloads the pictures
    python files/convnet.py prepare --source ~/Downloads/kagglecatsanddogs_5340.zip
    python files/convnet.py scratch                      # reads data/cats_and_dogs_small/
    python files/convnet.py augment                      # 100 epochs of 3,200 pictures
    python files/convnet.py features --weights none      # offline: an untrained VGG16 base
    python files/convnet.py finetune                     # after features-augment
    python files/convnet.py visualize --image my_cat.jpg # after scratch
    python files/convnet.py STAGE --smoke                # seconds, on small sample pictures
    python files/convnet.py STAGE --help

Each stage writes its plots, model (.keras) and metrics.json to runs/convnet/STAGE/
(OUTPUT_DIR/STAGE/ with --output-dir); finetune and visualize read the models that
features-augment and scratch left there. The machinery is in support/ (files/README.md).
"""

import time
from pathlib import Path

# First: importing support checks the Keras backend setting before Keras loads.
from support import (
    book_curves,
    checkpoints,
    command_line,
    convnet_figures,
    datasets,
    errors,
    getting_pictures,
    outputs,
    picture_pipeline,
    pipeline_benchmark,
    precision,
    stage_models,
    stages,
    vgg16_weights,
)
from support.book_numbers import BOOK
from support.stages import Stage

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

import helpers

SCRIPT = "convnet"

# --------------------------------------------------------------------------------------
# 5.1 A first convnet: MNIST
# --------------------------------------------------------------------------------------

MNIST = Stage(summary="5.1 a small convnet on MNIST", epochs=5, batch_size=64,
              smoke_sample_data=True)  # --smoke: the sample digits in data/sample/


def build_mnist_convnet():
    # Conv2D/MaxPooling2D stacks turn a 28x28 image into a 3x3x64 map of learned features;
    # Flatten + Dense then classify it, as the Dense network of chapter 2 did with pixels.
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax", dtype="float32"),
    ], name="mnist_convnet")
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def mnist(args):
    (train_images, train_labels), (test_images, test_labels) = datasets.load_mnist(args.data_dir)
    # Convnets take images as (height, width, channels): add the single grey channel.
    train_images = train_images.reshape((-1, 28, 28, 1)).astype("float32") / 255
    test_images = test_images.reshape((-1, 28, 28, 1)).astype("float32") / 255

    model = build_mnist_convnet()
    model.summary()
    history = model.fit(train_images, train_labels, epochs=args.epochs,
                        batch_size=args.batch_size, verbose=args.verbose)
    figure = helpers.plot_history(history, ["loss", "accuracy"],
                                  title="MNIST convnet", book=book_curves.of(SCRIPT, "mnist"),
                                  examples_per_epoch=len(train_images))
    outputs.save_figure(figure, args.output_dir / "training.png")
    outputs.save_atomically(args.output_dir / "model.keras", model.save)

    test_loss, test_accuracy = model.evaluate(test_images, test_labels, verbose=0)
    print(f"test accuracy {test_accuracy:.4f} (book: {BOOK['convnet-mnist']}), "
          f"test loss {test_loss:.4f}")
    return ({"test_accuracy": test_accuracy, "test_loss": test_loss},
            {"history": history.history, "pictures_per_epoch": len(train_images)})


# --------------------------------------------------------------------------------------
# 5.2 Dogs vs cats: the small dataset, a convnet from scratch, data augmentation
# --------------------------------------------------------------------------------------

# The book's 4,000-picture subset into DATA_DIR/cats_and_dogs_small/, by
# getting_pictures.prepare: from --source, a download, or with --smoke the sample pictures.
PREPARE = Stage(summary="5.2 copy cats_and_dogs_small out of the dogs-vs-cats pictures",
                options={"prepare"})
# The from-scratch convnet's four 3x3 convolutions and 2x2 poolings shrink 46 pixels to 1.
# --smoke: 3 epochs of 48-pixel pictures, about the smallest it takes.
PICTURE_TRAINING = {"pictures", "training"}
SCRATCH = Stage(summary="5.2 dogs vs cats, a convnet from scratch", epochs=30,
                batch_size=20,  # the book's generators gave batches of 20 pictures
                learning_rate=1e-4,  # RMSprop(lr=1e-4) in the book
                options=PICTURE_TRAINING, min_image_size=46, smoke_image_size=48)
# The book's augment epochs were steps_per_epoch=100 batches of 32: 3,200 augmented
# pictures, 1.6 passes over the 2,000 training pictures (~10,000 updates in 100 epochs).
AUGMENT = Stage(summary="5.2 ... with data augmentation and dropout", epochs=100,
                batch_size=32, steps_per_epoch=100, learning_rate=1e-4,
                options=PICTURE_TRAINING, min_image_size=46, smoke_image_size=48)
# The book's ImageDataGenerator arguments, which picture_pipeline.book_augmentation applies as
# Keras 2.0.8 did: shear_range in RADIANS (about 11.5 degrees; later Keras reads degrees),
# zoom_range for height and width independently (Keras 3's RandomZoom: one factor).
BOOK_AUGMENTATION = dict(
    rotation_range=40,  # degrees, either way
    width_shift_range=0.2, height_shift_range=0.2,  # fractions of the width and height
    shear_range=0.2,
    zoom_range=0.2,  # 0.8x to 1.2x
    horizontal_flip=True,
    fill_mode="nearest",
)


def build_small_convnet(image_size, learning_rate, dropout=False, rescale=True):
    """The book's dogs-vs-cats convnet, compiled with RMSprop at `learning_rate`; with
    `dropout`, Dropout(0.5) before the classifier (the augment stage; its pictures are
    augmented in the input pipeline, not in the model)."""
    model = keras.Sequential(name="convnet_dropout" if dropout else "small_convnet")
    model.add(keras.Input(shape=(image_size, image_size, 3)))
    if rescale:
        model.add(layers.Rescaling(1 / 255))  # pixels 0-255 -> 0-1, as the book's rescale
    for filters in (32, 64, 128, 128):
        model.add(layers.Conv2D(filters, 3, activation="relu"))
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Flatten())
    if dropout:
        model.add(layers.Dropout(0.5))  # augmented pictures are still correlated: regularize
    model.add(layers.Dense(512, activation="relu"))
    # One sigmoid unit: the probability of "dog". float32 keeps it exact in mixed precision.
    model.add(layers.Dense(1, activation="sigmoid", dtype="float32"))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def scratch(args):
    policy = precision.use_mixed_precision(args.mixed_precision)
    pictures = picture_pipeline.load_pictures(args.data_dir, args.image_size, args.batch_size,
                                              args.seed, args.steps_per_epoch)
    model = build_small_convnet(args.image_size, SCRATCH.learning_rate)
    model.summary()
    # With only 2,000 training pictures this overfits after ~5-10 epochs: watch the curves.
    run = checkpoints.TrainingRun(args, model)  # keeps every epoch; goes on after a stop
    history = model.fit(pictures.train, epochs=args.epochs, steps_per_epoch=pictures.train_steps,
                        validation_data=pictures.validation, initial_epoch=run.initial_epoch,
                        callbacks=run.callbacks, verbose=args.verbose)
    # The book's curves beside this run's (dashed): the same recipe on Keras 2.0.8.
    figure = helpers.plot_history(history, ["loss", "accuracy"],
                                  title="Dogs vs cats, convnet from scratch",
                                  book=book_curves.of(SCRIPT, "scratch"),
                                  examples_per_epoch=pictures.train_steps * args.batch_size)
    outputs.save_figure(figure, args.output_dir / "training.png")

    # The epoch with the lowest validation loss is the one tested; the last one beside it.
    return run.evaluate_best(model, pictures.test, pictures=pictures, precision=policy,
                             book=f"~{BOOK['convnet-scratch']:.2f} validation")


def augment(args):
    policy = precision.use_mixed_precision(args.mixed_precision)
    pictures = picture_pipeline.load_pictures(args.data_dir, args.image_size, args.batch_size,
                                              args.seed, args.steps_per_epoch,
                                              augmentation=BOOK_AUGMENTATION)
    model = build_small_convnet(args.image_size, AUGMENT.learning_rate, dropout=True)
    model.summary()
    run = checkpoints.TrainingRun(args, model)  # keeps every epoch; goes on after a stop
    history = model.fit(pictures.train, epochs=args.epochs, steps_per_epoch=pictures.train_steps,
                        validation_data=pictures.validation, initial_epoch=run.initial_epoch,
                        callbacks=run.callbacks, verbose=args.verbose)
    figure = helpers.plot_history(history, ["loss", "accuracy"],
                                  title="Dogs vs cats, with augmentation and dropout",
                                  book=book_curves.of(SCRIPT, "augment"),
                                  examples_per_epoch=pictures.train_steps * args.batch_size)
    outputs.save_figure(figure, args.output_dir / "training.png")

    results, details = run.evaluate_best(model, pictures.test, pictures=pictures, precision=policy,
                                         book=f"{BOOK['convnet-augment']:.2f}-0.84 validation")

    # The lesson of 5.2 at a glance, when scratch ran in the same output folder.
    convnet_figures.compare_with_scratch(args.output_dir, results, details)
    return results, details


# --------------------------------------------------------------------------------------
# 5.3 A pretrained convnet: VGG16
# --------------------------------------------------------------------------------------

# VGG16 needs pictures of at least 32 pixels: --smoke takes that, and the stages with VGG16
# inside the model 1 epoch of 2 batches (a batch of 20 through VGG16: a second on a CPU core).
FEATURES = Stage(summary="5.3 VGG16 feature extraction + Dense classifier", epochs=30,
                 batch_size=20, learning_rate=2e-5, options={*PICTURE_TRAINING, "weights"},
                 min_image_size=32, smoke_image_size=32)
FEATURES_AUGMENT = Stage(summary="5.3 frozen VGG16 base in the model, with augmentation",
                         epochs=30, batch_size=20, learning_rate=2e-5,
                         options={*PICTURE_TRAINING, "weights"}, min_image_size=32,
                         smoke_epochs=1, smoke_image_size=32, smoke_steps=2)
FINETUNE = Stage(summary="5.3 fine-tune VGG16's block5 (after features-augment)",
                 epochs=100, batch_size=20, options=PICTURE_TRAINING, min_image_size=32,
                 learning_rate=1e-5,  # lower still: large updates would wreck the ImageNet filters
                 smoke_epochs=1, smoke_image_size=32, smoke_steps=2)


def extract_features(conv_base, dataset, verbose):
    """Run the convolutional base once over every picture, batch by batch (minutes on a
    CPU: a progress bar shows how far it is)."""
    features, labels = [], []
    progress = outputs.progress_bar(int(dataset.cardinality()), verbose)
    for images, batch_labels in dataset:
        features.append(np.asarray(conv_base.predict_on_batch(images.numpy()), dtype="float32"))
        labels.append(batch_labels.numpy())
        progress.add(1)
    return np.concatenate(features), np.concatenate(labels)


def features(args):
    vgg16_weights.weights_note(args.weights)
    policy = precision.use_mixed_precision(args.mixed_precision)
    conv_base = vgg16_weights.load_vgg16(args.weights, args.image_size)
    conv_base.summary()
    pictures = picture_pipeline.load_pictures(args.data_dir, args.image_size, args.batch_size,
                                              args.seed, for_training=False,
                                              preprocess=picture_pipeline.vgg16_preprocess)
    # The classifier trains on the base's output, the (4, 4, 512) feature maps.
    model = keras.Sequential([
        keras.Input(shape=conv_base.output_shape[1:]),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid", dtype="float32"),
    ], name="vgg16_features_classifier")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=FEATURES.learning_rate),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.summary()
    # Before the extraction: a stopped run with other settings is refused in seconds.
    run = checkpoints.TrainingRun(args, model)  # keeps every epoch; goes on after a stop

    # The expensive part runs once per picture, not once per epoch: afterwards only the
    # small Dense classifier trains, on the stored feature maps.
    extract_started = time.perf_counter()
    train_features, train_labels = extract_features(conv_base, pictures.train, args.verbose)
    val_features, val_labels = extract_features(conv_base, pictures.validation, args.verbose)
    test_features, test_labels = extract_features(conv_base, pictures.test, args.verbose)
    print(f"features {train_features.shape} extracted in "
          f"{time.perf_counter() - extract_started:.1f}s")

    def as_dataset(features, labels, shuffle=False):
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        if shuffle:
            dataset = dataset.shuffle(len(features), seed=args.seed)
        return dataset.batch(args.batch_size)

    # An epoch: one pass over the stored features.
    history = model.fit(as_dataset(train_features, train_labels, shuffle=True),
                        epochs=args.epochs, validation_data=as_dataset(val_features, val_labels),
                        initial_epoch=run.initial_epoch, callbacks=run.callbacks,
                        verbose=args.verbose)
    figure = helpers.plot_history(history, ["loss", "accuracy"],
                                  title=f"VGG16 features (weights={args.weights}) + Dense",
                                  book=book_curves.of(SCRIPT, "features"),
                                  examples_per_epoch=len(train_features))
    outputs.save_figure(figure, args.output_dir / "training.png")

    return run.evaluate_best(model, as_dataset(test_features, test_labels), pictures=pictures,
                             precision=policy, extra={"weights": args.weights},
                             book=f"~{BOOK['convnet-features']:.2f} validation",
                             pictures_per_epoch=len(train_features))


def features_augment(args):
    vgg16_weights.weights_note(args.weights)
    policy = precision.use_mixed_precision(args.mixed_precision)
    conv_base = vgg16_weights.load_vgg16(args.weights, args.image_size)
    # Frozen: its ImageNet filters must not be wrecked by the large updates that the
    # randomly initialized Dense layers send back at the start of training.
    conv_base.trainable = False
    model = keras.Sequential([
        keras.Input(shape=(args.image_size, args.image_size, 3)),
        conv_base,  # the pictures arrive augmented from the input pipeline
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(1, activation="sigmoid", dtype="float32"),
    ], name="vgg16_augmented")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=FEATURES_AUGMENT.learning_rate),
                  loss="binary_crossentropy", metrics=["accuracy"])
    pictures = picture_pipeline.load_pictures(args.data_dir, args.image_size, args.batch_size,
                                              args.seed, args.steps_per_epoch,
                                              augmentation=BOOK_AUGMENTATION,
                                              preprocess=picture_pipeline.vgg16_preprocess)
    model.summary()
    run = checkpoints.TrainingRun(args, model)  # keeps every epoch; goes on after a stop
    history = model.fit(pictures.train, epochs=args.epochs, steps_per_epoch=pictures.train_steps,
                        validation_data=pictures.validation, initial_epoch=run.initial_epoch,
                        callbacks=run.callbacks, verbose=args.verbose)
    title = f"VGG16 frozen base + augmentation (weights={args.weights})"
    figure = helpers.plot_history(history, ["loss", "accuracy"], title=title,
                                  book=book_curves.of(SCRIPT, "features-augment"),
                                  examples_per_epoch=pictures.train_steps * args.batch_size)
    outputs.save_figure(figure, args.output_dir / "training.png")

    return run.evaluate_best(model, pictures.test, pictures=pictures, precision=policy,
                             extra={"weights": args.weights},
                             book=f"~{BOOK['convnet-features-augment']:.2f} validation")


def finetune(args):
    policy = precision.use_mixed_precision(args.mixed_precision)
    model, path, start = stage_models.load_features_augment_model(args.output_dir)
    image_size = model.input_shape[1]  # the size features-augment trained at

    # Unfreeze the top of the base only: block5 holds the most task-specific features,
    # the lower blocks generic edges and textures that are worth keeping as they are.
    conv_base = model.get_layer("vgg16")
    conv_base.trainable = True
    unfrozen = False
    for layer in conv_base.layers:
        unfrozen = unfrozen or layer.name == "block5_conv1"
        layer.trainable = unfrozen
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=FINETUNE.learning_rate),
                  loss="binary_crossentropy", metrics=["accuracy"])
    # The book fine-tunes with the same augmented pictures as features-augment.
    pictures = picture_pipeline.load_pictures(args.data_dir, image_size, args.batch_size,
                                              args.seed, args.steps_per_epoch,
                                              augmentation=BOOK_AUGMENTATION,
                                              preprocess=picture_pipeline.vgg16_preprocess)
    model.summary()
    run = checkpoints.TrainingRun(args, model, starting_from=outputs.file_sha256(path))
    history = model.fit(pictures.train, epochs=args.epochs, steps_per_epoch=pictures.train_steps,
                        validation_data=pictures.validation, initial_epoch=run.initial_epoch,
                        callbacks=run.callbacks, verbose=args.verbose)
    title = f"VGG16 fine-tuned from block5_conv1 (weights={start['weights']})"
    figure = helpers.plot_history(history, ["loss", "accuracy"], title=title,
                                  book=book_curves.of(SCRIPT, "finetune"),
                                  examples_per_epoch=pictures.train_steps * args.batch_size)
    outputs.save_figure(figure, args.output_dir / "training.png")

    results, details = run.evaluate_best(model, pictures.test, pictures=pictures, precision=policy,
                                         extra=start,  # weights, features_augment_epochs
                                         book=f"{BOOK['convnet-finetune']} test, 0.97 validation")
    return results, {**details, "image_size": image_size}


# --------------------------------------------------------------------------------------
# 5.4 Visualizing what convnets learn
# --------------------------------------------------------------------------------------

VISUALIZE = Stage(summary="5.4 activations, filter patterns, Grad-CAM", min_image_size=32,
                  smoke_image_size=48, options={"pictures", "weights", "visualize"})


def load_picture(path, size):
    """A picture as a (size, size, 3) float32 array of pixels 0-255."""
    image = keras.utils.load_img(path, target_size=(size, size))
    return keras.utils.img_to_array(image)


def save_activations(model, picture, folder):
    """(a) One PNG per convolution and pooling layer: what it outputs for `picture`."""
    shown = [layer for layer in model.layers
             if isinstance(layer, (layers.Conv2D, layers.MaxPooling2D))]
    activation_model = keras.Model(model.inputs, [layer.output for layer in shown])
    activations = activation_model.predict(picture[np.newaxis], verbose=0)
    return [convnet_figures.save_channel_grid(activation[0],
                                              folder / f"activations_{layer.name}.png")
            for layer, activation in zip(shown, activations, strict=True)]


# Gradient ascent and Grad-CAM need the gradient of a number with respect to an INPUT (a
# picture, a feature map), not the weights: the one thing each backend computes its own
# way. Each function takes `function(x, index)` (a scalar) and returns a function
# (x, index) -> (value, gradient with respect to x).


def input_gradient_tensorflow(function):
    @tf.function  # compiled once, not traced again for every step
    def value_and_gradient(x, index):
        with tf.GradientTape() as tape:
            tape.watch(x)  # x is a plain tensor, not a variable: watch it explicitly
            value = function(x, index)
        return value, tape.gradient(value, x)

    return value_and_gradient


def input_gradient_jax(function):
    import jax

    return jax.jit(jax.value_and_grad(function))  # differentiates the first argument


def input_gradient_torch(function):
    def value_and_gradient(x, index):
        x = ops.convert_to_tensor(x).detach().requires_grad_(True)  # record operations on x
        value = function(x, index)
        value.backward()
        return value.detach(), x.grad

    return value_and_gradient


INPUT_GRADIENT = {"tensorflow": input_gradient_tensorflow, "jax": input_gradient_jax,
                  "torch": input_gradient_torch}


def filter_patterns(conv_base, layer_name, count, size, steps, seed=0):
    """(b) The input pictures that most excite the first `count` filters of a layer.

    Gradient ascent in input space: start from grey noise and repeatedly move the picture
    in the direction that increases the filter's mean activation.
    """
    extractor = keras.Model(conv_base.input, conv_base.get_layer(layer_name).output)

    def filter_activation(image, filter_index):
        return ops.mean(ops.take(extractor(image), filter_index, axis=-1))

    value_and_gradient = INPUT_GRADIENT[keras.backend.backend()](filter_activation)
    rng = np.random.default_rng(seed)
    patterns = []
    for filter_index in range(count):
        image = ops.convert_to_tensor(rng.random((1, size, size, 3)) * 20 + 128, "float32")
        index = ops.convert_to_tensor(filter_index, "int32")
        for _ in range(steps):
            _, gradient = value_and_gradient(image, index)
            # Normalize the gradient so every step has about the same size.
            gradient = gradient / (ops.sqrt(ops.mean(ops.square(gradient))) + 1e-5)
            image = image + gradient
        patterns.append(convnet_figures.deprocess(ops.convert_to_numpy(image)[0]))
    return np.stack(patterns)


def grad_cam_heatmap(model, image_batch, conv_layer_name="block5_conv3", class_index=None):
    """(c) Grad-CAM: where in the picture the evidence for a class is.

    Each channel of the last convolution layer's output is weighted by how much the class
    score changes with it (its gradient, averaged over the map); the weighted sum, with
    negative parts dropped, is scaled to [0, 1]. Returns (heatmap, class_index); the
    heatmap has the convolution output's height and width.
    """
    # Split the network at that layer: the part up to it, and the classifier after it
    # (the layers that follow it, one after the other, as in VGG16).
    conv_layer = model.get_layer(conv_layer_name)
    conv_model = keras.Model(model.inputs, conv_layer.output)
    head_input = keras.Input(conv_layer.output.shape[1:])
    x = head_input
    for layer in model.layers[model.layers.index(conv_layer) + 1:]:
        x = layer(x)
    head = keras.Model(head_input, x)

    conv_output = conv_model(ops.convert_to_tensor(image_batch))
    if class_index is None:
        class_index = int(ops.argmax(head(conv_output)[0]))

    def class_score(feature_map, index):
        return ops.sum(ops.take(head(feature_map), index, axis=-1))

    _, gradients = INPUT_GRADIENT[keras.backend.backend()](class_score)(
        conv_output, ops.convert_to_tensor(class_index, "int32"))
    channel_weights = ops.mean(gradients, axis=(0, 1, 2))
    heatmap = ops.convert_to_numpy(ops.relu(ops.sum(conv_output[0] * channel_weights, axis=-1)))
    if heatmap.max() > 0:
        heatmap /= heatmap.max()
    return heatmap, class_index


def visualize(args):
    # VGG16 first, so a weights file that cannot serve fails before any work.
    classifier, conv_base, skipped = vgg16_weights.load_vgg16_to_visualize(args.weights,
                                                                            args.image_size)
    picture_path = (Path(args.image) if args.image
                    else picture_pipeline.default_picture(args.data_dir))  # the book's cat
    if not picture_path.is_file():
        raise errors.DataUnavailable(f"picture {picture_path} not found")
    print(f"picture: {picture_path}")

    # (a) Intermediate activations of the from-scratch convnet.
    model, _ = stage_models.load_stage_model(args.output_dir, "scratch",
                                               expected=stage_models.not_a_picture_convnet)
    picture = load_picture(picture_path, model.input_shape[1])
    paths = save_activations(model, picture, args.output_dir)
    print(f"activations: {len(paths)} PNGs, e.g. {paths[0]}")

    # (b) Filter patterns of VGG16, from the first convolution of blocks 1 to 4.
    vgg16_weights.weights_note(args.weights)
    if classifier is not None:  # the Grad-CAM network's convolutions, sized for the patterns
        conv_base = vgg16_weights.conv_base_of(classifier, args.image_size)
    for layer_name in ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1"):
        patterns = filter_patterns(conv_base, layer_name, args.filters, args.image_size,
                                   args.steps, seed=args.seed)
        paths.append(convnet_figures.save_pattern_grid(
            patterns, args.output_dir / f"filters_{layer_name}.png"))
        print(f"filter patterns: {paths[-1]}")

    # (c) Grad-CAM heatmap of VGG16 with its ImageNet classifier, over the picture.
    results = {"pngs": len(paths)}
    if classifier is not None:
        size = classifier.input_shape[1]
        batch = keras.applications.vgg16.preprocess_input(load_picture(picture_path, size)[None])
        heatmap, class_index = grad_cam_heatmap(classifier, batch)
        print(f"top ImageNet class index {class_index}; heatmap {heatmap.shape}")
        paths.append(convnet_figures.save_heatmap(heatmap, class_index,
                                                  args.output_dir / "gradcam_heatmap.png"))
        original = keras.utils.img_to_array(keras.utils.load_img(picture_path))
        paths.append(convnet_figures.overlay_heatmap(original, heatmap,
                                                     args.output_dir / "gradcam.png"))
        print(f"Grad-CAM overlay: {paths[-1]}")
        results = {"pngs": len(paths), "class_index": class_index}
    return ({**results, "weights": args.weights},
            {"picture": str(picture_path), "files": [str(path) for path in paths],
             "drawn": convnet_figures.drawn_parts(paths), "skipped": skipped})


# --------------------------------------------------------------------------------------
# The stages (name: the function that runs it, its settings); running one
# --------------------------------------------------------------------------------------

# Not a book section: scratch's network timed on the book's and this script's pipelines.
BENCHMARK = Stage(summary="not a book section: the book's ImageDataGenerator vs tf.data, timed",
                  epochs=3, batch_size=20, options={"pictures", "benchmark"},
                  min_image_size=SCRATCH.min_image_size, smoke_image_size=SCRATCH.smoke_image_size)


def benchmark(args):
    return pipeline_benchmark.run(args, build_small_convnet, SCRATCH, AUGMENT, BOOK_AUGMENTATION)


STAGES = {"mnist": (mnist, MNIST), "prepare": (getting_pictures.prepare, PREPARE),
          "scratch": (scratch, SCRATCH), "augment": (augment, AUGMENT),
          "features": (features, FEATURES),
          "features-augment": (features_augment, FEATURES_AUGMENT),
          "finetune": (finetune, FINETUNE), "visualize": (visualize, VISUALIZE),
          "benchmark": (benchmark, BENCHMARK)}


def main(argv=None):
    args = stages.parse_stage_args(STAGES, __doc__, argv)
    command_line.start(args)
    results, details = STAGES[args.stage][0](args)
    book = book_curves.of(SCRIPT, args.stage)  # None: the book printed no log of this stage
    outputs.finish(args, SCRIPT, {"stage": args.stage, **results}, details=details,
                   book=book and {"history": (book, details["pictures_per_epoch"])})
    checkpoints.remove_backup(args.output_dir)  # a finished stage keeps no backup


if __name__ == "__main__":
    command_line.run(main)
