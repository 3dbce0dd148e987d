"""What the scripts print, made safe: no character stops a run, and every `error:`,
`warning:` and `note:` line starts a line of its own.

- `setup` (run once, when `support` is imported, before anything is printed): stdout and
  stderr keep their encoding but replace what it cannot hold. Windows writes redirected
  output (`> log.txt`, a pipe, a CI log) in the system's code page (cp1252 and the like),
  and a path may hold a name from any language (`C:\\Users\\Łukasz\\...`): printing it
  would otherwise end the run in a UnicodeEncodeError. Keras's progress bar keeps its
  look there: its line-drawing character becomes `=`, as Keras itself does; anything else
  becomes `?`.
- `tracking_lines`: meanwhile, the streams remember whether the last thing written ended
  its line. A progress bar leaves the cursor in the middle of one (a download cut halfway,
  an epoch stopped); `say` then ends that line before printing its own.

Not in the book scripts: the book's notebook shows whatever it prints.
"""

import codecs
import contextlib
import io
import sys

ERRORS = "support.console.replace"  # the codec error handler below, by name
BAR_CHARACTERS = {"\u2501": "="}  # Keras's progress bar (━), as Keras writes it without


def _replace(error):
    """Codec error handler: what the encoding cannot hold, as `?` (the bar's line as `=`)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start:error.end]
    return "".join(BAR_CHARACTERS.get(character, "?") for character in text), error.end


codecs.register_error(ERRORS, _replace)


def setup():
    """Make stdout and stderr replace the characters their encoding cannot hold."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            stream.reconfigure(errors=ERRORS)  # (the encoding stays what it was)


class _Tracked:
    """A stream that remembers whether the last text written to it (or to the other
    tracked stream: a terminal shows both on one screen) ended its line."""

    last = {"stream": None, "ended": True}  # shared by stdout's and stderr's

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        written = self._stream.write(text)
        if text:
            _Tracked.last.update(stream=self._stream, ended=text.endswith("\n"))
        return written

    def __getattr__(self, name):  # everything else (flush, isatty, encoding, ...)
        return getattr(self._stream, name)


@contextlib.contextmanager
def tracking_lines():
    """Meanwhile, sys.stdout and sys.stderr remember where their last line ended (`say`)."""
    saved = sys.stdout, sys.stderr
    _Tracked.last.update(stream=None, ended=True)  # (a line of an earlier run is not ours)
    if not isinstance(sys.stdout, _Tracked):
        sys.stdout = _Tracked(sys.stdout)
    if not isinstance(sys.stderr, _Tracked):
        sys.stderr = _Tracked(sys.stderr)
    try:
        yield
    finally:
        _Tracked.last.update(stream=None, ended=True)
        if sys.stdout is not saved[0] and isinstance(sys.stdout, _Tracked):
            sys.stdout = saved[0]
        if sys.stderr is not saved[1] and isinstance(sys.stderr, _Tracked):
            sys.stderr = saved[1]


def start_line():
    """End the line a progress bar (or any write) left unfinished, so that what comes next
    starts a line of its own."""
    last = _Tracked.last
    if not last["ended"] and last["stream"] is not None:
        with contextlib.suppress(OSError, ValueError):
            last["stream"].write("\n")
            last["stream"].flush()
        last["ended"] = True


def say(line, file=None):
    """Print one line (`error: ...`, `warning: ...`, `note: ...`) at the start of a line."""
    start_line()
    print(line, file=file or sys.stdout, flush=True)
