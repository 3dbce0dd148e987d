"""The committed record of runs (data/records/) and the README table written from it alone.

A record is one finished run of one example, as a small JSON file: its headline numbers
(the RESULT fields), its settings (the data and VGG16 weights by name and content hash,
never by the path on the machine that ran it), its per-epoch history and distance from the
book's curves, the command, the wall time and the machine. `reproduce.py --record` writes
them; `reproduce.py --update-readme` writes the README's results table from them and from
nothing else, so that the table is the same whichever machine regenerates it, and a fast
machine's full-length run is not lost when a slower one writes the table next.

Its own module so that reproduce.py stays the list of steps of a run; not a book section.
"""

import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from support import reproduce_table
from support.errors import InputError
from support.paths import REPO_ROOT

# Tests point this elsewhere: smoke runs and tests never write into the committed folder.
RECORDS_DIR = REPO_ROOT / "data" / "records"

# The data files each script (or convnet.py stage) reads from --data-dir, hashed so that a
# record names its data by content; the other convnet.py stages read cats_and_dogs_small/.
DATA_FILES = {"mnist": ["mnist.npz"], "tensors": ["mnist.npz"], "convnet mnist": ["mnist.npz"],
              "imdb": ["imdb.npz", "imdb_word_index.json"], "fundamentals": ["imdb.npz"],
              "reuters": ["reuters.npz", "reuters_word_index.json"],
              "bostonhousing": ["boston_housing.npz"]}
PICTURES = "cats_and_dogs_small"

# CPU features that change how fast (or in which precision) the examples train.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")

# Settings that are paths on the machine that ran, or say nothing about the run.
NOT_SETTINGS = {"output_dir", "data_dir", "verbose", "weights", "smoke", "restart"}


# --------------------------------------------------------------------------------------
# The machine, the data and the weights, by name and content
# --------------------------------------------------------------------------------------


def describe_machine():
    """CPU model, features and cores, GPU if any, OS, Python, TensorFlow, Keras, backend;
    `name` is the short name the table's machine column shows."""
    cpuinfo = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        pass
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    # None where the flags cannot be read (macOS, Windows, a CPU that lists none): unknown,
    # not absent.
    present = set(flags.group(1).split()) if flags else None
    machine = {"cpu": model.group(1).strip() if model else (platform.processor()
                                                            or platform.machine()),
               "cpu_flags": None if present is None else [flag for flag in CPU_FLAGS
                                                          if flag in present],
               "cores": os.cpu_count(), "gpu": find_gpu(), "os": operating_system(),
               "python": platform.python_version(), "tensorflow": version("tensorflow"),
               "keras": version("keras"),
               "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    return {"name": machine_name(machine), **machine}


def find_gpu():
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                encoding="utf-8", errors="replace", timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "none"
    lines = listed.stdout.strip().splitlines() if listed.returncode == 0 else []
    # "GPU 0: NVIDIA H200 (UUID: ...)": the UUID names one card, not the kind of machine.
    return "; ".join(re.sub(r"\s*\(UUID:.*\)$", "", line) for line in lines) or "none"


def operating_system():
    try:
        release = Path("/etc/os-release").read_text(encoding="utf-8")
        pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)"?$', release, re.M)
        if pretty:
            return pretty.group(1)
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


def version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_name(machine):
    """A short name: the CPU's family, its bfloat16 units, its cores, the GPU (EPYC-bf16-2c)."""
    words = [word for word in re.split(r"[\s(),@]+", machine["cpu"]) if word and word.upper()
             not in {"AMD", "INTEL", "R", "TM", "CPU", "PROCESSOR"}]
    name = words[0] if words else "cpu"
    flags = machine["cpu_flags"] or ()  # (None: unknown)
    if "amx_bf16" in flags:
        name += "-amx"
    elif "avx512_bf16" in flags:
        name += "-bf16"
    name += f"-{machine['cores']}c"
    if machine["gpu"] != "none":
        gpu = re.search(r"(?:NVIDIA|GeForce|Tesla)\s+(\S+)", machine["gpu"])
        name += f"-{gpu.group(1) if gpu else 'gpu'}"
    return re.sub(r"[^A-Za-z0-9_.-]", "", name)


def machine_key(machine):
    """What makes two records' machines one machine: hardware, not software versions."""
    flags = machine["cpu_flags"]
    return (machine["name"], machine["cpu"], machine["cores"], machine["gpu"],
            None if flags is None else tuple(flags))


def file_hash(paths, root):
    """sha256 over the files' names (relative to root, with forward slashes: the same on
    every system) and contents, first 16 hex digits."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda path: path.relative_to(root).parts):  # (as Linux)
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def data_identity(script, stage, data_dir):
    """The data a run read, by file name and content: {"files": {name: hash}}; Keras's
    download when no --data-dir was given (not hashed: it is not in a folder we chose)."""
    if not data_dir:
        return {"source": "keras.datasets download"}
    base = Path(data_dir)
    names = DATA_FILES.get(f"{script} {stage}" if stage else script)
    if names is None:  # dogs vs cats: the split, inside data_dir or data_dir itself
        folder = base / PICTURES if (base / PICTURES).is_dir() else base
        pictures = [path for path in folder.rglob("*") if path.is_file()]
        return {"files": {f"{PICTURES}/": file_hash(pictures, folder) if pictures else None}}
    return {"files": {name: file_hash([base / name], base) if (base / name).is_file() else None
                      for name in names}}


def weights_identity(weights):
    """VGG16's weights by file name and content, or Keras's download ("imagenet") or "none"."""
    if weights in (None, "imagenet", "none"):
        return {"name": weights or "imagenet"}
    path = Path(weights)
    return {"name": path.name, "sha256": file_hash([path], path.parent) if path.is_file()
            else None}


# --------------------------------------------------------------------------------------
# Making, writing and reading records
# --------------------------------------------------------------------------------------


def make_record(entry, metrics, seconds, command, settings):
    """One run's record from its metrics.json: `settings` holds seed, epochs, flags, data
    and weights as reproduce.py ran it; `command` is the command shown, without local paths."""
    result = {key: without_paths(value) for key, value in metrics.items()
              if isinstance(value, (int, float, str)) and key != "script"}
    # Per-epoch curves and other lists; the book's own curves are in data/book_curves.json.
    history = {key: without_paths(value) for key, value in metrics.items()
               if isinstance(value, (list, dict)) and key not in ("settings", "book_history")}
    script_settings = {key: without_paths(value) for key, value in
                       (metrics.get("settings") or {}).items() if key not in NOT_SETTINGS}
    record = {"example": entry["name"], "command": command, "seconds": round(seconds, 1),
              "settings": {**script_settings, **settings, "book_epochs": entry.get("epochs")},
              "result": result, "history": history,
              "book_distance": book_distances(metrics), "machine": describe_machine()}
    # The backend the run itself reported, not this process's setting.
    record["machine"]["keras_backend"] = metrics.get("backend", record["machine"]["keras_backend"])
    return record


# A path on the machine that ran: absolute or relative, alone or inside a message (not the
# path part of a URL).
LOCAL_PATH = re.compile(r"(?<![\w:/.])(?:~|\.{1,2})?/[^\s'\"`,;()]+|[A-Za-z]:\\[^\s'\"`,;()]+")


def without_paths(value):
    """`value` with every path on the machine that ran (a weights file, the PNGs a stage
    drew, one named in a message) as its file name only; in lists and dicts too."""
    if isinstance(value, dict):
        return {key: without_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_paths(item) for item in value]
    if not isinstance(value, str):
        return value
    if ("/" in value or "\\" in value) and not any(space in value for space in " \t\n"):
        return Path(value.replace("\\", "/")).name  # the whole value is a path
    return LOCAL_PATH.sub(lambda found: Path(found.group().replace("\\", "/")).name, value)


def book_distances(metrics):
    """How far each of a run's curves lies from the book's run of it, epoch by epoch (the
    `distance` that scripts write beside the book's history in metrics.json), keyed by the
    curve's place there: "validation_history", "histories.original", ..."""
    found = {}
    for key, value in (metrics.get("book_history") or {}).items():
        records = value.items() if key == "histories" else [(None, value)]  # fundamentals
        for name, record in records:
            if isinstance(record, dict) and record.get("distance"):
                found[f"{key}.{name}" if name else key] = record["distance"]
    return found


def record_name(record, date):
    """<example>-seed<N>-<machine>-<date>-<content hash>.json: the same run recorded twice
    gets the same name (and content), two different runs never share one."""
    text = json.dumps(record, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return (f"{record['example']}-seed{record['settings']['seed']}-"
            f"{record['machine']['name']}-{date}-{digest}.json")


def write_record(record, finished_at, folder=None):
    """Write the record into `folder` (default RECORDS_DIR); `finished_at`: the run's end, in
    seconds since the epoch (its metrics.json's time). Returns the file written."""
    date = datetime.fromtimestamp(finished_at, timezone.utc).strftime("%Y%m%d")
    record = {**record, "date": date[:4] + "-" + date[4:6] + "-" + date[6:]}
    folder = Path(folder or RECORDS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / record_name(record, date)
    # LF on every system, as the committed records are (.gitattributes).
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8",
                    newline="\n")
    return path


def read_records(folder=None):
    """Every record in `folder` (default RECORDS_DIR), in file-name order. A record that
    cannot be read stops the table: a table silently missing a run would mislead."""
    records = []
    for path in sorted(Path(folder or RECORDS_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            record["settings"]["seed"], record["machine"]["name"], record["example"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"run record {path.name} could not be read ({error}); fix or "
                             f"remove it") from None
        records.append(record)
    return records


# --------------------------------------------------------------------------------------
# The README table, from the records alone
# --------------------------------------------------------------------------------------


def settings_key(record):
    """Runs with one key differ only in their seed: their numbers may be combined."""
    settings = record["settings"]
    return (machine_key(record["machine"]), settings.get("epochs"),
            tuple(settings.get("flags") or ()),
            json.dumps(settings.get("weights"), sort_keys=True),
            json.dumps(settings.get("data"), sort_keys=True))


def at_book_settings(entry, record):
    settings = record["settings"]
    return (not settings.get("flags") and (settings.get("weights") or {}).get("name") != "none"
            and (not entry.get("epochs") or settings.get("epochs") == entry["epochs"]))


def chosen_runs(entry, records):
    """The runs that make the example's row: of one machine and one set of settings, the
    full-length run at the book's settings if any machine recorded one, else the longest;
    more seeds, then the latest date, break ties. One run per seed (its latest record)."""
    groups = {}
    for record in records:
        if record["example"] == entry["name"]:
            groups.setdefault(settings_key(record), {})[record["settings"]["seed"]] = record
    if not groups:
        return []

    def rank(key):
        runs = list(groups[key].values())
        return (at_book_settings(entry, runs[0]), runs[0]["settings"].get("epochs") or 0,
                len(runs), max(run.get("date", "") for run in runs), str(key))

    best = groups[max(groups, key=rank)]
    # Seed 42 (every script's default) first: its command and curves stand for the row.
    return [best[seed] for seed in sorted(best, key=lambda seed: (seed != 42, seed))]


def committed_runs(entry, folder=None):
    """reproduce.py --reuse with no finished run of the example in its folder (a fresh clone,
    say): the example's runs kept in `folder` (default RECORDS_DIR), the same ones the
    README's row is written from, as reproduce.py's runs ([] when none is kept). Only their
    numbers: the curves beside the book's need a run's folder."""
    return [{"command": record["command"], "seed": record["settings"]["seed"],
             "seconds": record["seconds"], "status": "ok",
             "fields": {key: str(value) for key, value in record["result"].items()},
             "recorded": f"{record['example']} seed {record['settings']['seed']}, "
                         f"{record['machine']['name']}, {record.get('date', '')}",
             "book_distance": record.get("book_distance")}
            for record in chosen_runs(entry, read_records(folder))]


def table_rows(book, records):
    """The README table's rows, one per example of `book` (reproduce.BOOK) and number."""
    rows = []
    for entry in book:
        runs = chosen_runs(entry, records)
        numbers = [entry, *[{**entry, "metric": metric, "book": value, "source": source,
                             "split": split} for metric, (value, source, split)
                            in entry.get("extra_metrics", {}).items()]]
        if not runs:
            rows += [{"name": entry["name"], "metric": number["metric"],
                      "book": number["book"], "source": number["source"],
                      "split": number["split"], "command": None, "seconds": None,
                      "machine": None, "verdict": "no record yet"} for number in numbers]
            continue
        settings = runs[0]["settings"]
        shortened = settings.get("epochs") if settings.get("epochs") != entry.get("epochs") \
            else None
        as_run = [{"command": run["command"], "seconds": run["seconds"], "seed":
                   run["settings"]["seed"], "status": "ok",
                   "fields": {key: str(value) for key, value in run["result"].items()}}
                  for run in runs]
        for number in numbers:
            row = reproduce_table.summarize(number, as_run, False, shortened,
                                            settings.get("flags") or ())
            row.update(machine=runs[0]["machine"]["name"],
                       seconds=statistics.median(run["seconds"] for run in runs))
            if runs[0].get("book_distance"):
                row["book_distance"] = runs[0]["book_distance"]
            rows.append(row)
    return rows


def describe_machines(rows, records):
    """One line for each machine named in the table: hardware, OS and the software versions
    its records ran with."""
    lines = []
    for name in sorted({row["machine"] for row in rows if row["machine"]}):
        machines = [record["machine"] for record in records if record["machine"]["name"] == name]
        first = machines[0]
        flags = ("CPU flags unknown" if first["cpu_flags"] is None
                 else ", ".join(first["cpu_flags"]) or "no AVX2")
        software = sorted({f"Python {m['python']}, TensorFlow {m['tensorflow']}, Keras "
                           f"{m['keras']} ({m['keras_backend']} backend)" for m in machines})
        lines.append(f"- `{name}`: {first['cpu']}, {first['cores']} cores ({flags}); GPU: "
                     f"{first['gpu']}; {first['os']}; {' / '.join(software)}.")
    return "\n".join(lines or ["- none yet"]) + "\n"


def describe_distances(rows):
    """Each row's distance from the book's own curves (its records' book_distance): the mean
    |difference| per epoch of validation accuracy, else loss, over the epochs both have."""
    lines = []
    for row in rows:
        if not row.get("book_distance") or any(line.startswith(f"- {row['name']}:")
                                               for line in lines):
            continue
        parts = []
        for place, distances in sorted(row["book_distance"].items()):
            metric = next((name for name in ("val_accuracy", "val_loss") if name in distances),
                          sorted(distances)[0])
            distance = distances[metric]
            parts.append(f"{place.rsplit('.', 1)[-1] if '.' in place else place} {metric} "
                         f"{distance['mean_abs_difference']:.3f} over {distance['points']} "
                         f"epochs")
        lines.append(f"- {row['name']}: " + "; ".join(parts))
    return "\n".join(lines or ["- none yet"]) + "\n"


def readme_block(book, folder=None):
    """The README's results block: the table from the records in `folder` (default
    RECORDS_DIR), the machines, and how it was made; nothing from the machine writing it."""
    records = read_records(folder)
    rows = table_rows(book, records)
    used = len({id(run) for entry in book for run in chosen_runs(entry, records)})
    return (f"Written by `python files/reproduce.py --reuse --update-readme` from the "
            f"{len(records)} run records in `data/records/` ({used} of them in the table). "
            f"Each row: the example's full-length run at the book's settings, else its "
            f"longest (shortened: ...); several seeds of one machine as their median and "
            f"range; wall time: the median run's.\n\n"
            f"{reproduce_table.markdown_table(rows)}\nMachines:\n\n"
            f"{describe_machines(rows, records)}\nDistance from the book's own curves (each "
            f"row's first run, seed 42 where recorded; mean absolute difference per epoch):\n\n"
            f"{describe_distances(rows)}")
