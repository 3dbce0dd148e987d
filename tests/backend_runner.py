"""One Python process on one Keras backend that runs the chapter scripts on request.

Keras picks its backend once per process, when it is imported, so the JAX and PyTorch passes
need processes of their own; this one imports Keras (with JAX or PyTorch) once and then runs
each script's `main(argv)` as the TensorFlow tests do (harness.run_script), instead of
paying a fresh Python and the imports for every run. harness.BackendProcess starts it with
KERAS_BACKEND set, sends one JSON request a line ({"script": ..., "args": [...]}) and reads
one JSON answer a line (returncode, stdout, stderr).
"""

import json
import os
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "files"), str(ROOT / "data"), str(ROOT / "tests")]

# Answers go out on a copy of the original stdout; anything a library writes to file
# descriptor 1 (C code included) goes to stderr instead, so it cannot garble an answer.
answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)

import harness  # noqa: E402  (after the path and descriptor set-up above)


def main():
    for line in sys.stdin:
        request = json.loads(line)
        try:
            done = harness.run_script(request["script"], *request["args"])
            answer = {"returncode": done.returncode, "stdout": done.stdout,
                      "stderr": done.stderr}
        except Exception:  # as a crashed script process would end: exit code 1, traceback
            answer = {"returncode": 1, "stdout": "", "stderr": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
