"""Stop a short resumable run at random moments, then run the same command again: does it go
on after the last finished epoch? Not a test (its moments are random): a measurement for the
closing notes of work on checkpoints.py and stop_signals.py.

    python tests/random_stops.py OUTPUT_FOLDER [--each 10] [--signals INT TERM HUP KILL]

Each trial starts `convnet.py scratch` on the sample pictures (8 epochs of 40 batches of 4
pictures, 64x64: an epoch takes a fraction of a second, so the stops land at every moment of
an epoch) as a terminal starts it (its own process group, the stop signals at their
defaults), waits for `Epoch 3/8`, sends the signal at a random moment of the next ~2 s
(SIGINT and SIGHUP to the process group, as a terminal does; SIGTERM and SIGKILL to the
process), then runs the same command to its end. A trial passes when the stopped run ended
as it should (128 + the signal's number and `interrupted`, or killed), the second run said
`resuming after epoch N` (or `no epoch left to train: the stopped run's N finished
epochs`) with N at least the number of epochs the first run printed as finished, and its
metrics.json holds all 8 epochs. One JSON line per trial, then a summary.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 8


def command(output_dir):
    return [sys.executable, str(REPO_ROOT / "files" / "convnet.py"), "scratch", "--data-dir",
            str(REPO_ROOT / "data" / "sample" / "cats_and_dogs_small"), "--epochs", str(EPOCHS),
            "--batch-size", "4", "--steps-per-epoch", "40", "--image-size", "64",
            "--output-dir", str(output_dir)]


def as_a_terminal_starts_it():
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def start(output_dir, log):
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(command(output_dir), stdout=log, stderr=subprocess.PIPE, text=True,
                            cwd=REPO_ROOT, env=environment, start_new_session=True,
                            preexec_fn=as_a_terminal_starts_it)


def finished_epochs(text):
    """Epochs whose end line (`... val_loss: ...`) the run printed."""
    return sum(1 for line in text.splitlines() if "val_loss:" in line)


def trial(folder, signum, rng):
    log_path = folder / "first.log"
    with open(log_path, "w") as log:
        process = start(folder, log)
        while "Epoch 3/" not in log_path.read_text():
            if process.poll() is not None:
                return {"error": "ended before epoch 3", "stderr": process.stderr.read()[-500:]}
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 2.0))
        if signum in (signal.SIGINT, signal.SIGHUP):
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    first = log_path.read_text()
    second = subprocess.run(command(folder), capture_output=True, text=True, cwd=REPO_ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    metrics_path = folder / "scratch" / "metrics.json"
    epochs = (len(json.loads(metrics_path.read_text())["history"]["loss"])
              if metrics_path.is_file() else 0)
    resumed = [line for line in second.stdout.splitlines()
               if line.startswith(("resuming after", "no epoch left", "starting over", "note:"))]
    # "resuming after epoch N of ..." or "no epoch left to train: the stopped run's N ..."
    after = next((int(line.split()[3 if line.startswith("resuming") else 8])
                  for line in resumed if line.startswith(("resuming", "no epoch left"))), 0)
    expected_code = -signal.SIGKILL if signum == signal.SIGKILL else 128 + signum
    last = (stderr.strip().splitlines() or [""])[-1]
    ok = (process.returncode == expected_code
          and (signum == signal.SIGKILL or last == "interrupted")
          and after >= finished_epochs(first) and second.returncode == 0 and epochs == EPOCHS)
    return {"signal": signal.Signals(signum).name, "ok": ok, "code": process.returncode,
            "last_line": last, "printed_finished": finished_epochs(first),
            "resumed_after": after, "lines": resumed, "second_code": second.returncode,
            "metrics_epochs": epochs, "aborted": "Abort" in stderr or process.returncode == -6}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--each", type=int, default=10, help="trials per signal")
    parser.add_argument("--signals", nargs="+", default=["INT", "TERM", "HUP", "KILL"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = []
    for number in range(args.each):
        for name in args.signals:
            folder = args.output_dir / f"{name}-{number}"
            folder.mkdir(parents=True, exist_ok=True)
            result = trial(folder, getattr(signal, f"SIG{name}"), rng)
            results.append(result)
            print(json.dumps(result), flush=True)
    for name in args.signals:
        mine = [result for result in results if result.get("signal") == f"SIG{name}"]
        print(f"SIG{name}: {sum(result['ok'] for result in mine)} of {len(mine)} resumed after "
              f"the last finished epoch", flush=True)


if __name__ == "__main__":
    main()
