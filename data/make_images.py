"""Make tiny synthetic "cats vs dogs" image folders for `convnet.py --smoke` and the tests.

Two classes a small convnet tells apart within an epoch or two (so "the loss went down"
is a real check), written as JPEG files with the names and layout of the real data:

- `make_split_folders(root)`: `root/cats_and_dogs_small/{train,validation,test}/{cats,dogs}/`,
  the layout `convnet.py prepare` builds and the training stages read;
- `make_kaggle_train(folder, indices)`: a flat folder of `cat.N.jpg` / `dog.N.jpg`, like
  Kaggle's dogs-vs-cats `train/`, the input of `convnet.py prepare`.

"Cats" are dark, warm pictures with a bright disk; "dogs" are light, cool pictures with a
dark square. Positions, sizes, colours and noise are random, from a fixed seed.

    python data/make_images.py --out /tmp/images           # split folders, 48x48 pixels
    python data/make_images.py --out /tmp/kaggle --kaggle  # a Kaggle-style train/ folder
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 20261127
CLASSES = ("cat", "dog")
# Image counts per class for each split: a few dozen, enough for a smoke run to learn.
SMOKE_SPLITS = {"train": 40, "validation": 12, "test": 12}


def draw_image(label, size, rng):
    """A `size` x `size` RGB uint8 picture of class `label` ("cat" or "dog")."""
    yy, xx = np.mgrid[0:size, 0:size]
    radius = rng.uniform(0.15, 0.3) * size
    cy, cx = rng.uniform(radius, size - radius, 2)
    if label == "cat":
        background = rng.uniform([90, 40, 20], [140, 80, 50])
        shape = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2  # a disk
        colour = rng.uniform(200, 255, 3)
    else:
        background = rng.uniform([150, 170, 190], [200, 220, 250])
        shape = (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius)  # a square
        colour = rng.uniform(0, 50, 3)
    image = np.empty((size, size, 3))
    image[:] = background
    image[shape] = colour
    image += rng.normal(0.0, 12.0, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def save_jpeg(array, path):
    Image.fromarray(array).save(path, quality=90)


def make_kaggle_train(folder, indices, size=48, seed=SEED):
    """Write `cat.N.jpg` and `dog.N.jpg` for each N in `indices` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in indices:
        for label in CLASSES:
            save_jpeg(draw_image(label, size, rng), folder / f"{label}.{index}.jpg")
    return folder


def make_split_folders(root, splits=None, size=48, seed=SEED):
    """Write `root/cats_and_dogs_small/<split>/<cats|dogs>/` and return that split folder.

    The file numbers follow on from split to split, as in the book's layout.
    """
    splits = splits or SMOKE_SPLITS
    base = Path(root) / "cats_and_dogs_small"
    rng = np.random.default_rng(seed)
    first = 0
    for split, count in splits.items():
        for label in CLASSES:
            folder = base / split / f"{label}s"
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(first, first + count):
                save_jpeg(draw_image(label, size, rng), folder / f"{label}.{index}.jpg")
        first += count
    return base


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--size", type=int, default=48, help="image side in pixels")
    parser.add_argument("--kaggle", action="store_true",
                        help="write a flat Kaggle-style train/ folder (cat/dog 0-1999)")
    args = parser.parse_args()
    if args.kaggle:
        folder = make_kaggle_train(args.out, range(2000), size=args.size)
    else:
        folder = make_split_folders(args.out, size=args.size)
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
