"""What --smoke changes, every rule in one place: a run of seconds on the project's sample
data in data/sample/, without the network.

- `apply` (every script, through command_line.parse_args): the sample data, and each flag
  named in the script's `limits` held to what a smoke run takes;
- `apply_to_stage` (convnet.py's stages, through stages.parse_stage_args): the same with the
  limits of the stage's record (its `smoke_*` settings), and an untrained VGG16 base unless
  --weights names one.

Not in the book scripts: the book's runs take minutes to hours on the full datasets.
"""

from __future__ import annotations

from support.paths import REPO_ROOT

SAMPLE_DATA_DIR = REPO_ROOT / "data" / "sample"  # what --smoke reads


def apply(args, limits, sample_data=True):
    """The sample data (unless `sample_data` is False), and each flag of `limits` held to
    its smoke value: a number is the most it may be, a pair (least, most) the range it is
    moved into (None: no bound on that side)."""
    if sample_data:
        args.data_dir = SAMPLE_DATA_DIR
    for name, limit in limits.items():
        least, most = limit if isinstance(limit, tuple) else (None, limit)
        value = getattr(args, name)
        if most is not None:
            value = min(value, most)
        if least is not None:
            value = max(value, least)
        setattr(args, name, value)


def apply_to_stage(args, stage):
    """--smoke for one of convnet.py's stages (a stages.Stage): at most `stage.smoke_epochs`
    epochs; the sample data when the stage always reads it (`smoke_sample_data`: the sample
    digits), or reads pictures and --data-dir holds no split of its own; `smoke_steps` batches
    an epoch unless --steps-per-epoch asks for another number than the book's; pictures of
    `smoke_image_size` unless --image-size is given; an untrained VGG16 base (no network, not
    VGG16's 58 MB, 528 MB for visualize's full network) unless --weights names one; for
    visualize, at most 4 filter patterns of 5 steps."""
    limits = {"epochs": stage.smoke_epochs}
    if "visualize" in stage.options:
        limits.update(filters=4, steps=5)
    reads_sample = stage.smoke_sample_data or (
        "pictures" in stage.options and not _has_split(args.data_dir))
    apply(args, limits, sample_data=reads_sample)
    if hasattr(args, "steps_per_epoch") and args.steps_per_epoch == stage.steps_per_epoch:
        # One pass over the few smoke pictures, or a part of it through VGG16.
        args.steps_per_epoch = stage.smoke_steps
    if hasattr(args, "image_size") and args.image_size is None:
        args.image_size = stage.smoke_image_size
    if hasattr(args, "weights") and args.weights is None:
        args.weights = "none"


def _has_split(data_dir):
    from support import picture_pipeline  # (here: only convnet.py's stages need TensorFlow)

    return picture_pipeline.has_split(data_dir)
