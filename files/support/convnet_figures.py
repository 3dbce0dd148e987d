"""Figures for Chapter 5: arrays of activations, filter patterns and heatmaps made visible.

`convnet.py` computes what the book shows in 5.2 and 5.4 (validation curves, activations,
the pictures that excite a filter, a Grad-CAM heatmap); the functions here lay those
arrays out as pictures and save them (display code, not the book's deep learning), and
compare_with_scratch reads the scratch stage's metrics.json to draw augment beside it.
"""

import os

from support import book_curves, console, errors, outputs, stage_models

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import helpers


def channel_grid(activation, columns=16):
    """One image of all channels of an (h, w, channels) activation, each made visible."""
    height, width, channels = activation.shape
    rows = -(-channels // columns)
    grid = np.zeros((rows * (height + 1), columns * (width + 1)))
    for channel in range(channels):
        image = activation[:, :, channel]
        # Standardize each channel for display: raw activations differ wildly in scale.
        image = (image - image.mean()) / (image.std() + 1e-5) * 64 + 128
        row, column = divmod(channel, columns)
        grid[row * (height + 1):row * (height + 1) + height,
             column * (width + 1):column * (width + 1) + width] = np.clip(image, 0, 255)
    return grid


def save_channel_grid(activation, path):
    grid = channel_grid(activation)
    return outputs.save_atomically(path, lambda partial: plt.imsave(
        partial, grid, cmap="viridis", vmin=0, vmax=255, format="png"))


def deprocess(image):
    """A float picture of any range -> displayable uint8 (centred, std 0.1, clipped)."""
    image = (image - image.mean()) / (image.std() + 1e-5) * 0.1 + 0.5
    return (np.clip(image, 0, 1) * 255).astype("uint8")


def pattern_grid(patterns, columns=8, margin=4):
    count, size = len(patterns), patterns.shape[1]
    rows = -(-count // columns)
    columns = min(columns, count)
    grid = np.zeros((rows * (size + margin), columns * (size + margin), 3), dtype="uint8")
    for index, pattern in enumerate(patterns):
        row, column = divmod(index, columns)
        top, left = row * (size + margin), column * (size + margin)
        grid[top:top + size, left:left + size] = pattern
    return grid


def save_pattern_grid(patterns, path):
    grid = pattern_grid(patterns)
    return outputs.save_atomically(path, lambda partial: plt.imsave(partial, grid, format="png"))


def save_heatmap(heatmap, class_index, path):
    figure, axes = plt.subplots(figsize=(4, 4))
    axes.matshow(heatmap, cmap="jet", vmin=0, vmax=1)
    axes.set_title(f"Grad-CAM, ImageNet class {class_index}")
    return outputs.save_figure(figure, path)


def overlay_heatmap(picture, heatmap, path, alpha=0.4):
    """Colour the heatmap with the "jet" colormap, stretch it over the picture, blend."""
    picture = np.asarray(picture, dtype="float32")
    colours = matplotlib.colormaps["jet"](heatmap)[..., :3]  # (h, w, 3) in [0, 1]
    colours = Image.fromarray(np.uint8(colours * 255)).resize(
        (picture.shape[1], picture.shape[0]), Image.Resampling.BILINEAR)
    blended = np.asarray(colours, dtype="float32") * alpha + picture * (1 - alpha)
    overlay = Image.fromarray(np.uint8(np.clip(blended, 0, 255)))
    return outputs.save_atomically(path, lambda partial: overlay.save(partial, format="PNG"))


def compare_validation_accuracy(runs, path):
    """One figure of the validation accuracy of several runs, by training pictures seen.

    `runs` is a list of (label, details, test accuracy, the book's run or None), details
    holding "history" and "pictures_per_epoch": epochs of the stages differ in size (2,000
    vs 3,200 pictures in the book), so the runs are compared by how many training pictures
    the model had seen. The book's runs are drawn dashed, in the colour of their stage.
    """
    figure, axes = plt.subplots(figsize=(7.5, 5))
    notes = []
    for label, run, accuracy, book in runs:
        val_accuracy = run["history"]["val_accuracy"]
        per_epoch = run.get("pictures_per_epoch") or 2000
        seen = helpers.epoch_axis(len(val_accuracy), per_epoch)
        (line,) = axes.plot(seen, val_accuracy,
                            label=f"{label}: best-checkpoint test accuracy {accuracy:.1%}")
        if book is not None:
            book_curves.plot_book_curve(axes, line, book["history"]["val_accuracy"],
                                    book["examples_per_epoch"], label)
            if book["note"]:
                notes.append(book["note"])
    axes.set_xlabel("training pictures seen (thousands)")
    axes.set_ylabel("validation accuracy")
    axes.set_title("Dogs vs cats: validation accuracy, scratch vs augmented")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    caption = "; ".join(["dashed: the book's runs (section 5.2, Keras 2.0.8)", *notes])
    helpers.add_caption(figure, caption)
    return outputs.save_figure(figure, path)


def compare_with_scratch(output_dir, results, details):
    """augment's validation accuracy beside scratch's (the lesson of 5.2), when scratch ran
    in the same output folder (its metrics.json); without it, a note and no figure."""
    scratch_metrics = output_dir.parent / "scratch" / "metrics.json"
    try:
        earlier = stage_models.read_stage_metrics(scratch_metrics, "scratch")
    except errors.DataUnavailable as error:  # only the figure needs it: go on without
        console.say(f"warning: no comparison figure: {error}")
        earlier = {}
    if "history" not in earlier:
        print(f"(no {scratch_metrics}: run the scratch stage for a side-by-side figure)")
        return None
    path = compare_validation_accuracy(
        [("from scratch", earlier, earlier["test_accuracy"],
          book_curves.book_history("convnet", "scratch")),
         ("augmentation + dropout", details, results["test_accuracy"],
          book_curves.book_history("convnet", "augment"))],
        output_dir / "compare_scratch.png")
    print(f"comparison: {path}")
    return path


def drawn_parts(paths):
    """How many figures of each of visualize's three parts `paths` holds."""
    names = [os.path.basename(path) for path in paths]
    return {"activations": sum(name.startswith("activations_") for name in names),
            "filter_patterns": sum(name.startswith("filters_") for name in names),
            "grad_cam": sum(name.startswith("gradcam") for name in names)}
