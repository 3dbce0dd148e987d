"""Make the small sample datasets in data/sample/ that `--smoke` runs and the tests use.

Each file has the name, keys and layout of the Keras file it stands in for (and the picture
folder cats_and_dogs_small/ the layout of the book's), so the scripts read it through
exactly the same `--data-dir` code path as the real data. The data is
synthetic, deterministic (fixed seed) and *learnable*: a small network's loss goes down
on it within a couple of epochs, so "training worked" is a real check, not noise.

    python data/make_sample_data.py            # rewrites data/sample/
    python data/make_sample_data.py --out DIR  # somewhere else
"""

import argparse
import json
from pathlib import Path

import numpy as np

import make_images  # the synthetic cats and dogs (beside this file)

SEED = 20261127

# ---- MNIST stand-in: seven-segment digits -------------------------------------------------

# Segments of a seven-segment display: a top, b upper right, c lower right, d bottom,
# e lower left, f upper left, g middle.
DIGIT_SEGMENTS = {
    0: "abcdef", 1: "bc", 2: "abged", 3: "abgcd", 4: "fgbc",
    5: "afgcd", 6: "afgedc", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}


def draw_digit(digit, rng):
    """A 28x28 uint8 image of `digit`, randomly shifted, sized and stroked, with noise."""
    image = np.zeros((28, 28), dtype=np.float32)
    height, width = rng.integers(14, 20), rng.integers(8, 13)
    top, left = rng.integers(2, 28 - height - 2), rng.integers(3, 28 - width - 3)
    thick = int(rng.integers(2, 4))
    mid = top + height // 2
    bottom, right = top + height, left + width
    strokes = {
        "a": (slice(top, top + thick), slice(left, right)),
        "g": (slice(mid - thick // 2, mid - thick // 2 + thick), slice(left, right)),
        "d": (slice(bottom - thick, bottom), slice(left, right)),
        "f": (slice(top, mid + 1), slice(left, left + thick)),
        "e": (slice(mid, bottom), slice(left, left + thick)),
        "b": (slice(top, mid + 1), slice(right - thick, right)),
        "c": (slice(mid, bottom), slice(right - thick, right)),
    }
    for segment in DIGIT_SEGMENTS[digit]:
        image[strokes[segment]] = rng.uniform(0.7, 1.0)
    image += rng.normal(0.0, 0.08, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def make_mnist(rng, n_train=1000, n_test=200):
    def split(n):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.stack([draw_digit(int(label), rng) for label in labels])
        return images, labels

    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


# ---- IMDB stand-in: short reviews whose sentiment words carry the label ------------------

POSITIVE = ("great excellent wonderful brilliant superb loved enjoyable beautiful moving "
            "masterpiece charming delightful fantastic touching funny best perfect gripping "
            "stunning memorable").split()
NEGATIVE = ("awful terrible boring worst waste dull poor stupid mess bad disappointing "
            "horrible weak predictable annoying pointless lame tedious forgettable ugly").split()
NEUTRAL = ("the a and of to is in it this that was as with for but film movie on his one "
           "are be at by an have who they from all so her like just about out what has some "
           "there can story more when very up no time even my would which only really see "
           "their had were me well than much get been will other into do also how most its "
           "him two first plot make people any could then characters after scene acting way "
           "because director scenes cast end ending life man woman night role music watch "
           "seen actors years never over show little where still through something").split()


def make_word_index(words):
    """Keras word indexes map each word to its frequency rank, starting at 1."""
    return {word: rank for rank, word in enumerate(words, start=1)}


def make_imdb(rng, n_train=800, n_test=400):
    words = NEUTRAL + POSITIVE + NEGATIVE
    word_index = make_word_index(words)
    neutral_ids = np.array([word_index[w] for w in NEUTRAL])
    positive_ids = np.array([word_index[w] for w in POSITIVE])
    negative_ids = np.array([word_index[w] for w in NEGATIVE])
    zipf = 1.0 / np.arange(1, len(neutral_ids) + 1)
    zipf /= zipf.sum()

    def review(label):
        length = int(rng.integers(20, 120))
        ids = rng.choice(neutral_ids, size=length, p=zipf)
        n_opinion = max(2, length // 8)
        # Mostly words of the review's sentiment, some of the other one: not trivially separable.
        agree = rng.random(n_opinion) < 0.75
        own, other = (positive_ids, negative_ids) if label else (negative_ids, positive_ids)
        opinion = np.where(agree, rng.choice(own, n_opinion), rng.choice(other, n_opinion))
        ids[rng.choice(length, n_opinion, replace=False)] = opinion
        return [int(i) for i in ids]

    def split(n):
        labels = rng.integers(0, 2, n).astype(np.int64)
        reviews = np.empty(n, dtype="object")
        reviews[:] = [review(int(label)) for label in labels]
        return reviews, labels

    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return arrays, word_index


# ---- Reuters stand-in: newswires about 46 topics, each with its own keywords --------------

TOPICS = ("cocoa grain veg-oil earn acq wheat copper housing money-supply coffee sugar trade "
          "reserves ship cotton carcass crude nat-gas cpi money-fx interest gnp meal-feed alum "
          "oilseed gold tin strategic-metal livestock retail ipi iron-steel rubber heat jobs lei "
          "bop zinc orange pet-chem dlr gas silver wpi hog lead").split()
NEWS_WORDS = ("the of to in said and a mln for vs dlrs it pct on from is that its cts by year "
              "at will be with was billion has he would u s as an net company not shares "
              "market new may which last are prices quarter one tonnes government also bank "
              "had but two share sales stock inc were been corp march").split()


def make_reuters(rng, n_items=1000):
    topic_words = [f"{topic}{suffix}" for topic in TOPICS for suffix in ("", "-output", "-price")]
    words = NEWS_WORDS + topic_words
    word_index = make_word_index(words)
    news_ids = np.array([word_index[w] for w in NEWS_WORDS])
    # Like the real data, a few topics (earn, acq) are common and most are rare.
    topic_weights = 1.0 / np.arange(1, len(TOPICS) + 1) ** 1.1
    topic_weights /= topic_weights.sum()
    labels = rng.choice(len(TOPICS), size=n_items, p=topic_weights).astype(np.int64)

    def newswire(topic):
        length = int(rng.integers(15, 80))
        ids = rng.choice(news_ids, size=length)
        own = [word_index[f"{TOPICS[topic]}{s}"] for s in ("", "-output", "-price")]
        n_topic = max(2, length // 10)
        ids[rng.choice(length, n_topic, replace=False)] = rng.choice(own, n_topic)
        return [int(i) for i in ids]

    wires = np.empty(n_items, dtype="object")
    wires[:] = [newswire(int(topic)) for topic in labels]
    return {"x": wires, "y": labels}, word_index


# ---- Boston housing stand-in: 506 rows, 13 features, a noisy nonlinear price --------------

def make_boston_housing(rng, n_rows=506):
    # Feature scales roughly like the real columns (crime rate, rooms, tax rate, ...).
    scales = np.array([3.6, 11.4, 11.1, 0.07, 0.55, 6.3, 68.6, 3.8, 9.5, 408.0, 18.5, 356.7, 12.7])
    spread = np.array([8.6, 23.3, 6.9, 0.25, 0.12, 0.7, 28.1, 2.1, 8.7, 168.5, 2.2, 91.3, 7.1])
    z = rng.normal(size=(n_rows, 13))
    x = np.abs(scales + spread * z)
    # Price driven mostly by "rooms" (col 5) and "lower-status share" (col 12), like the real data.
    price = 22.5 + 6.0 * z[:, 5] - 5.0 * z[:, 12] + 1.5 * z[:, 12] ** 2 - 2.0 * z[:, 10] \
        - 1.5 * z[:, 0] + rng.normal(0.0, 2.0, n_rows)
    y = np.clip(price, 5.0, 50.0)
    return {"x": x.astype(np.float64), "y": y.astype(np.float64)}


def main(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    np.savez_compressed(out_dir / "mnist.npz", **make_mnist(rng))
    imdb, imdb_words = make_imdb(rng)
    np.savez_compressed(out_dir / "imdb.npz", **imdb)
    (out_dir / "imdb_word_index.json").write_text(json.dumps(imdb_words), encoding="utf-8")
    reuters, reuters_words = make_reuters(rng)
    np.savez_compressed(out_dir / "reuters.npz", **reuters)
    (out_dir / "reuters_word_index.json").write_text(json.dumps(reuters_words), encoding="utf-8")
    np.savez_compressed(out_dir / "boston_housing.npz", **make_boston_housing(rng))
    # convnet.py's image stages: 48x48 "cats" and "dogs" in the cats_and_dogs_small layout.
    make_images.make_split_folders(out_dir)
    for path in sorted(out_dir.iterdir()):
        print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "sample")
    main(parser.parse_args().out)
