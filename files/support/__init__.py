"""The machinery around the book's scripts, kept out of them: a script reads top to bottom
as the book does and leans on one import, `from support import ...`.

Importing this package first makes stdout and stderr safe for every character
(console.setup), then checks the Keras backend setting (backend_check), before the script
imports Keras: a mistyped KERAS_BACKEND ends in one line, not a traceback from inside
Keras. pyproject.toml's isort settings keep `from support import ...` above `import keras`.

- console: output no character can crash; `error:` and `note:` lines on lines of their own
- backend_check: the Keras backend setting, checked; matplotlib without a display
- command_line: the common flags, `run` (one `error:` line, exit code 2; stop signals:
  `interrupted`)
- stages: convnet.py's stages, their settings records and their flags
- output_folder: the output folder, checked before any training, and its lock
- smoke: what --smoke changes, every rule in one place
- stop_signals: Ctrl-C, SIGTERM and SIGHUP (Ctrl-Break on Windows) stop every script the
  same way
- errors: the errors behind the one-line messages
- paths: the one REPO_ROOT
- outputs: files written atomically, metrics.json and the RESULT line, the progress bar
- book_numbers: the book's numbers, one place for each (printed comparisons, reproduce.py)
- book_curves: the book's own training curves beside a run's, and how far apart they are
- datasets: the Keras datasets, downloaded or from Keras's own files (--data-dir)
- getting_pictures: the dogs-vs-cats pictures, and the book's 4,000-picture subset of them
- picture_pipeline: the pictures as tf.data datasets, with the book's augmentation
- precision: mixed precision where it pays
- checkpoints: a training stage's backups, going on after a stop, its best epoch's model
- run_settings: what a stage's finished epochs depend on, and a stopped run's compared with
  the new command's
- stage_models: the models earlier stages of convnet.py saved
- vgg16_weights: VGG16 from Keras's download, a local weights file, or untrained
- convnet_figures: Chapter 5's figures
- pipeline_benchmark: the timing behind `convnet.py benchmark` (not a book section): the
  picture pipeline against the book's ImageDataGenerator
- example_runs: one example of reproduce.py, run as a reader would, or its finished run
  found again (--reuse)
- reproduce_table, run_records: reproduce.py's table, and the records in data/records/
- setup_report: a reader's setup for a bug report (`reproduce.py --describe-setup`)
"""

from support import console

console.setup()  # before anything is printed, the backend check's error line included

from support import backend_check  # noqa: E402, F401  (checks the backend when imported)
