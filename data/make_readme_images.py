"""Draw the two README pictures with matplotlib: book.jpg (a title banner for this
repository) and dlprocess.jpg (the training loop of a neural network).

    python data/make_readme_images.py     # rewrites book.jpg and dlprocess.jpg at the top
"""

from itertools import pairwise
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
INK, ACCENT, SOFT, PAPER = "#1f2a44", "#d9534f", "#5b8def", "#f7f5ef"


def box(ax, x, y, width, height, text, color, text_color="white", size=13):
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor=INK, linewidth=1.5))
    ax.text(x, y, text, ha="center", va="center", color=text_color, fontsize=size,
            fontweight="bold")


def arrow(ax, start, end, text="", color=INK, curve=0.0, text_offset=(0, 0.12)):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=18,
                                 color=color, linewidth=2,
                                 connectionstyle=f"arc3,rad={curve}"))
    if text:
        mid = ((start[0] + end[0]) / 2 + text_offset[0], (start[1] + end[1]) / 2 + text_offset[1])
        ax.text(*mid, text, ha="center", va="center", fontsize=10.5, color=color,
                style="italic")


def draw_training_loop(path):
    fig, ax = plt.subplots(figsize=(10, 6.2))
    fig.patch.set_facecolor(PAPER)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6.2)
    ax.axis("off")
    ax.text(5, 5.9, "How a neural network learns", ha="center", fontsize=17,
            fontweight="bold", color=INK)

    box(ax, 1.6, 5.05, 2.0, 0.6, "Input X", "#7a8699")
    box(ax, 1.6, 3.95, 2.7, 0.7, "Layer\n(data transformation)", SOFT, size=10.5)
    box(ax, 1.6, 2.65, 2.7, 0.7, "Layer\n(data transformation)", SOFT, size=10.5)
    box(ax, 1.6, 1.35, 2.2, 0.6, "Predictions Y'", "#7a8699")
    box(ax, 5.3, 1.35, 2.2, 0.6, "True targets Y", "#7a8699")
    box(ax, 3.45, 0.35, 2.2, 0.5, "Loss function", ACCENT, size=12)
    box(ax, 7.9, 0.35, 1.9, 0.5, "Loss score", "#b0413e", size=12)
    box(ax, 7.9, 3.3, 2.0, 0.7, "Optimizer", "#3c763d")
    # The weights that the optimizer changes, one set per layer.
    for y in (3.95, 2.65):
        box(ax, 4.6, y, 1.5, 0.5, "weights", "#e8e1c9", text_color=INK, size=11)
        ax.plot([2.95, 3.85], [y, y], color=INK, linestyle=":", linewidth=1.5)

    arrow(ax, (1.6, 4.75), (1.6, 4.3))
    arrow(ax, (1.6, 3.6), (1.6, 3.0))
    arrow(ax, (1.6, 2.3), (1.6, 1.65))
    arrow(ax, (1.9, 1.05), (3.0, 0.6))
    arrow(ax, (5.0, 1.05), (3.95, 0.6))
    arrow(ax, (4.55, 0.35), (6.95, 0.35), "how wrong?", text_offset=(0, 0.15))
    arrow(ax, (7.9, 0.6), (7.9, 2.95), "gradients of the loss", text_offset=(1.05, 0))
    arrow(ax, (6.9, 3.4), (5.35, 3.95), "weight update", color="#3c763d", curve=0.15,
          text_offset=(0.35, 0.35))
    arrow(ax, (6.9, 3.15), (5.35, 2.65), "", color="#3c763d", curve=-0.15)
    ax.text(7.95, 4.45, "repeat for every batch,\nepoch after epoch:\nthe loss goes down",
            ha="center", va="center", fontsize=11, color=INK)
    fig.savefig(path, dpi=110, facecolor=fig.get_facecolor(), pil_kwargs={"quality": 90})
    plt.close(fig)


def draw_banner(path):
    fig = plt.figure(figsize=(10, 3.2))
    ax = fig.add_axes((0, 0, 1, 1))
    fig.patch.set_facecolor(INK)
    ax.set_facecolor(INK)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 3.2)
    ax.axis("off")
    # A small dense network on the right: 4 -> 6 -> 6 -> 2 units.
    rng = np.random.default_rng(2)
    layer_sizes, xs = (4, 6, 6, 2), (7.0, 7.85, 8.7, 9.45)
    columns = [np.linspace(0.4, 2.8, n) if n > 2 else np.array([1.2, 2.0]) for n in layer_sizes]
    for (x0, ys0), (x1, ys1) in pairwise(zip(xs, columns, strict=True)):
        for y0 in ys0:
            for y1 in ys1:
                ax.plot([x0, x1], [y0, y1], color=SOFT, alpha=rng.uniform(0.15, 0.7), lw=1)
    for x, ys in zip(xs, columns, strict=True):
        ax.scatter(np.full(len(ys), x), ys, s=140, color=PAPER, edgecolors=SOFT, zorder=3)
    ax.text(0.45, 2.3, "dlwp-examples", color=PAPER, fontsize=34, fontweight="bold",
            va="center")
    ax.text(0.47, 1.5, "Runnable companion scripts for\nDeep Learning with Python",
            color=PAPER, fontsize=15, va="center")
    ax.text(0.47, 0.6, "Keras 3 + TensorFlow  ·  CPU or CUDA GPU  ·  chapters 2-5",
            color=ACCENT, fontsize=12, va="center", fontweight="bold")
    fig.savefig(path, dpi=110, facecolor=fig.get_facecolor(), pil_kwargs={"quality": 90})
    plt.close(fig)


if __name__ == "__main__":
    draw_banner(REPO_ROOT / "book.jpg")
    draw_training_loop(REPO_ROOT / "dlprocess.jpg")
    print("wrote", REPO_ROOT / "book.jpg", "and", REPO_ROOT / "dlprocess.jpg")
