"""The models earlier stages of convnet.py saved: finetune goes on from features-augment's,
visualize shows the activations of scratch's. A missing, damaged or foreign file ends in one
line naming it and the command that makes it again.
"""

import json
import zipfile
from pathlib import Path

from support import errors, vgg16_weights

import keras


def load_stage_model(output_dir, stage, expected=None):
    """The model an earlier stage saved next to this stage's output folder.

    A missing, damaged or foreign file (not a Keras model, another stage's model, a model
    an incompatible Keras wrote) is DataUnavailable, naming the file, what was wrong and
    the command that makes it again. `expected(model)` says what is wrong with a loaded
    model that is not the one `stage` saves (None: nothing).
    """
    path = Path(output_dir).parent / stage / "model.keras"
    again = f"run `python files/convnet.py {stage}` (with the same --output-dir) to make it"
    if not path.is_file():
        raise errors.DataUnavailable(f"{path} not found: {again} first.")
    print(f"loading {path}")
    try:
        with open(path, "rb") as file:  # unreadable: PermissionError, with its reason
            if not zipfile.is_zipfile(file):  # Keras would call it "not found"
                raise ValueError("not a .keras file: not a zip archive")
        model = keras.models.load_model(path)
    except Exception as error:  # Keras raises many kinds for a file it cannot read
        raise errors.DataUnavailable(
            f"{path} is not a model Keras can load ({errors.error_reason(error)}); "
            f"{again} again.") from None
    problem = expected(model) if expected else None
    if problem:
        raise errors.DataUnavailable(f"{path} is not the model {stage} saves ({problem}); "
                                      f"{again} again.")
    return model, path


def read_stage_metrics(path, stage):
    """The metrics.json an earlier stage wrote (a dict; {} when there is none). A damaged
    file is DataUnavailable, naming it and the command that writes it again."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        raise errors.DataUnavailable(
            f"{path} cannot be read ({errors.error_reason(error)}); run `python files/"
            f"convnet.py {stage}` (with the same --output-dir) to write it again.") from None
    return record


def load_features_augment_model(output_dir):
    """finetune's start: features-augment's model (with a VGG16 base), its path, and what
    it started from: the VGG16 weights (so an untrained base is never hidden) and how many
    epochs features-augment trained (so a finetune run from a shortened one says so)."""
    model, path = load_stage_model(output_dir, "features-augment", expected=lambda model: None
                                   if "vgg16" in [layer.name for layer in model.layers]
                                   else "it has no VGG16 base")
    metrics = read_stage_metrics(path.parent / "metrics.json", "features-augment")
    vgg16_weights.weights_note(metrics.get("weights", "unknown"))
    epochs = (metrics.get("settings") or {}).get("epochs", "unknown")
    return model, path, {"weights": metrics.get("weights", "unknown"),
                         "features_augment_epochs": epochs}


def not_a_picture_convnet(model):
    """What is wrong with `model` as the scratch stage's convnet (None: nothing): visualize
    shows the activations of its Conv2D layers for one RGB picture."""
    shape = model.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[-1] != 3:
        return f"its input is {shape}, not RGB pictures"
    if not any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers):
        return "it has no Conv2D layers"
    return None
