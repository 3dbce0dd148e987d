"""One example of reproduce.py, run exactly as a reader would run it, or found already run.

- `example_command`: the command a reader would type for it (`python files/<script>.py
  ...`: the book's settings are each script's defaults; --smoke, --data-dir, --weights,
  --epochs NAME=N, --args and the seed added as reproduce.py's flags ask), and
  `shown_command`, the same as text from the repository root, on every system alike;
- `run_example`: runs it as a subprocess in its own folder (`example_output_dir`) and
  reads its RESULT line ("ok"), its `error:` line (exit code 2: "not run", with the
  reason) or its exit code ("crashed"); with --reuse it trains nothing and takes the run
  `recorded_run` finds: the example's metrics.json, written with the same settings.

Not in the book scripts: reproduce.py runs them, one after another.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from support.paths import REPO_ROOT

FILES = REPO_ROOT / "files"  # the scripts
DEFAULT_SEED = 42  # every script's default --seed


def example_command(entry, args, seed, output_dir):
    """The exact command a reader would type for this example."""
    command = [sys.executable, str(FILES / entry["command"][0]), *entry["command"][1:]]
    if args.smoke:
        command += ["--smoke"]  # every example's own smoke data
    elif args.data_dir:
        command += ["--data-dir", str(args.data_dir)]
    if entry.get("weights"):
        # A local VGG16 weights file; smoke runs default to an untrained base (offline).
        weights = args.weights or ("none" if args.smoke else None)
        command += ["--weights", str(weights)] if weights else []
    if entry["name"] in args.epochs:
        command += ["--epochs", str(args.epochs[entry["name"]])]
    command += extra_flags(args, entry)
    if seed != DEFAULT_SEED:
        command += ["--seed", str(seed)]
    return command + ["--output-dir", str(output_dir), "--verbose", "0"]


def extra_flags(args, entry):
    """The flags --args gave this example (a list, empty if none)."""
    return dict(args.args).get(entry["name"], [])


def shown_command(command):
    """The command as a reader types it, from the repository root, with forward slashes
    (which Windows takes too): the same text in records and the README on every system."""
    return " ".join(["python", *[Path(part).relative_to(REPO_ROOT).as_posix()
                                 if part.startswith(str(REPO_ROOT)) else part
                                 for part in command[1:]]])


def example_output_dir(entry, args, seed, folder=None):
    # One folder per script and seed; convnet.py's stages share theirs (finetune and
    # visualize read what features-augment and scratch left there). `folder`: another
    # reproduce.py output folder whose runs --reuse takes.
    return Path(folder or args.output_dir) / "examples" / f"seed{seed}" / Path(
        entry["command"][0]).stem


def run_example(entry, args, seed):
    """Run one example once (or take its recorded run, with --reuse); returns a dict with
    status, the RESULT fields, seconds."""
    output_dir = example_output_dir(entry, args, seed)
    command = example_command(entry, args, seed, output_dir)
    if args.reuse:  # never trains: a table (or a record) of what has run, nothing new
        recorded = recorded_run(entry, args, seed, example_output_dir(entry, args, seed,
                                                                      args.reuse))
        return {"command": shown_command(command), "seed": seed, **(recorded or {
            "seconds": 0.0, "status": "not run",
            "reason": f"no finished run with these settings in {args.reuse} (--reuse)"})}
    started = time.perf_counter()
    # The example writes UTF-8 into the pipes, whatever the system's code page, and is read
    # as UTF-8: a path with any name in it reaches this script as it is.
    done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8",
                          errors="replace", cwd=REPO_ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                               "PYTHONIOENCODING": "utf-8"})
    seconds = time.perf_counter() - started
    record = {"command": shown_command(command), "seconds": seconds, "seed": seed}
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines and lines[-1].startswith("RESULT "):
        record["status"] = "ok"
        record["fields"] = dict(field.split("=", 1) for field in lines[-1].split()[1:])
        record["metrics_file"] = str(metrics_path(entry, output_dir))
    elif done.returncode == 2:
        # A problem with the input (no data, no weights, no earlier stage): not run.
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        record["status"] = "not run"
        record["reason"] = (errors[-1] if errors else done.stderr.strip()[-300:])[6:].strip()
    else:
        record["status"] = "crashed"
        record["reason"] = f"exit code {done.returncode}: {done.stderr.strip()[-500:]}"
    return record


def stage_of(entry):
    """convnet.py's stage the example runs, or None for the other scripts."""
    return entry["command"][1] if len(entry["command"]) > 1 else None


def metrics_path(entry, output_dir):
    """Where the example writes its metrics.json (convnet.py: in its stage's folder)."""
    stage = stage_of(entry)
    return output_dir / stage / "metrics.json" if stage else output_dir / "metrics.json"


def read_metrics_file(path):
    """A metrics.json as a dict, or {} when it cannot be read."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def recorded_run(entry, args, seed, output_dir):
    """The run already recorded in the example's output folder (its metrics.json), when it
    ran with the settings this run would use: the same seed, data folder, smoke or not,
    VGG16 weights and epochs. None otherwise (it then runs again)."""
    stage, path = stage_of(entry), metrics_path(entry, output_dir)
    record = read_metrics_file(path)
    settings = record.get("settings")
    if not isinstance(settings, dict):
        return None

    def same(recorded, wanted):  # the same text, or paths to the same file (from the root)
        if recorded == wanted or not recorded or not wanted:
            return recorded == wanted
        return (REPO_ROOT / recorded).resolve() == (REPO_ROOT / wanted).resolve()

    weights = str(args.weights or ("none" if args.smoke else "imagenet"))
    epochs = args.epochs.get(entry["name"], entry.get("epochs"))
    matches = [settings.get("seed") == seed, bool(settings.get("smoke")) == bool(args.smoke),
               record.get("stage") == stage if stage else True,
               not entry.get("weights") or same(settings.get("weights"), weights)]
    if not args.smoke:  # a smoke run caps its epochs, and reads the project's sample data
        matches += [same(settings.get("data_dir"), args.data_dir and str(args.data_dir)),
                    epochs is None or settings.get("epochs") == epochs]
    extra = extra_flags(args, entry)
    for flag, value in zip(extra[::2], extra[1::2], strict=False):  # --args: --flag value
        matches.append(str(settings.get(flag.lstrip("-").replace("-", "_"))) == value)
    if not all(matches):
        return None
    fields = {key: str(value) for key, value in record.items()
              if isinstance(value, (int, float, str)) and key != "script"}
    return {"seconds": float(record.get("seconds", 0.0)), "status": "ok", "fields": fields,
            "recorded": str(path), "metrics_file": str(path)}
