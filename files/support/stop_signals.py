"""Stop signals: every script stops the same way on Ctrl-C (SIGINT), SIGTERM and SIGHUP, and
on Windows on Ctrl-Break (SIGBREAK; a closed console window sends it too, but Windows ends
the process moments later, as a kill), with `interrupted` as its last line and exit code
128 + the signal's number (130, 143, 129; 149).

Script machinery, not the book: `command_line.run` calls `stopping_on_signals()` around a
script's `main`. A closed terminal sends SIGHUP; `timeout`, a CI runner's cancel and a
machine's shutdown send SIGTERM: both would otherwise end the process wherever it is. Python's
own Ctrl-C handling raises KeyboardInterrupt wherever the main thread happens to be when the
signal is handled, and some places lose it:

- code that catches every exception and goes on. Keras itself does, after every batch:
  when a callback has batch hooks, it converts the batch's logs to floats on the main thread
  inside a bare `try: ... except: pass` (`pythonify_logs` in Keras 3.15), so an interrupt
  handled there vanishes without a word and training goes on. C code that clears any error
  it gets does the same;
- an object's `__del__` or a weakref callback, where Python only prints "Exception
  ignored in ..." with a traceback and goes on.

So the handler here records the request, raises KeyboardInterrupt as Python's would, and
keeps raising it once a second until the script has stopped; a lost interrupt in a
`__del__` is not reported, since the next one follows. A second signal ends the process at
once. Inside `held_back()` (a backup being written, see checkpoints.py) a stop waits for the
block to end, so an interrupted write never leaves half a file behind for the next run.
Nothing is installed for a signal that is ignored (nohup ignores SIGHUP; `&` in a script
ignores SIGINT).
"""

import _thread
import contextlib
import os
import signal
import sys
import threading

from support import console

REPEAT_SECONDS = 1.0  # how long a lost interrupt goes unnoticed, at most
# SIGHUP exists on Linux and macOS only, SIGBREAK on Windows only: those of them that exist.
STOP_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")


def stop_signals():
    return tuple(getattr(signal, name) for name in STOP_SIGNAL_NAMES if hasattr(signal, name))
_current = []  # the _Stop of the run in progress (held_back() reads it)


def exit_code(signum):
    """What a shell reports for a process a signal ended: 128 + the signal's number."""
    return 128 + int(signum)


def say_interrupted():
    """The last line of a stopped script (a closed terminal cannot show it: no error then)."""
    with contextlib.suppress(OSError, ValueError):
        console.start_line()  # (after a progress bar's unfinished line)
        print("interrupted", file=sys.stderr, flush=True)


class _Stop:
    """The state of one run: which signal asked it to stop, whether the script has stopped,
    and whether a write that must not be cut in half is going on."""

    def __init__(self):
        self.signum = None
        self.requested = threading.Event()
        self.stopped = threading.Event()
        self.repeating = False  # the next signal is the repeat's, not the reader's
        self.holding = 0  # > 0 inside held_back(): the stop waits for its end
        self.repeater = threading.Thread(target=self.repeat, daemon=True)

    def on_signal(self, signum, frame):
        if self.stopped.is_set():  # a repeat that came as the script was stopping
            return
        if self.repeating:
            self.repeating = False
        elif self.requested.is_set():  # asked again (Ctrl-C pressed twice): stop at once
            say_interrupted()
            os._exit(exit_code(self.signum))
        else:
            self.signum = signum
            self.requested.set()
            self.repeater.start()
        if not self.holding:
            raise KeyboardInterrupt

    def repeat(self):
        """Raise KeyboardInterrupt in the main thread again each second until it stopped."""
        while not self.stopped.wait(REPEAT_SECONDS):
            self.repeating = True
            _thread.interrupt_main(self.signum)


@contextlib.contextmanager
def stopping_on_signals():
    """Meanwhile, SIGINT, SIGTERM, SIGHUP and SIGBREAK (where they exist) raise
    KeyboardInterrupt until the script stops (see the module's docstring), and any exception
    after such a signal leaves as KeyboardInterrupt; the caller turns it into `interrupted`
    and exit_code(stop.signum).
    Yields that _Stop, or None outside the main thread, where Python cannot set a signal
    handler. A signal that is ignored here stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    previous = {signum: signal.getsignal(signum) for signum in stop_signals()}
    ours = [signum for signum, handler in previous.items()
            if handler in (signal.SIG_DFL, signal.default_int_handler)]
    stop = _Stop()
    report_unraisable = sys.unraisablehook

    def quiet_about_lost_interrupts(unraisable):
        if not (stop.requested.is_set() and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            report_unraisable(unraisable)

    for signum in ours:
        signal.signal(signum, stop.on_signal)
    sys.unraisablehook = quiet_about_lost_interrupts
    _current.append(stop)
    try:
        yield stop
    except Exception:
        if stop.requested.is_set():  # what a library made of the interrupt on its way up
            raise KeyboardInterrupt from None
        raise
    finally:
        stop.stopped.set()
        if stop.repeater.is_alive():
            stop.repeater.join()  # it wakes at once; any repeat it sent is handled below
        for signum in ours:  # (restoring the handler first runs a pending one)
            signal.signal(signum, previous[signum])
        sys.unraisablehook = report_unraisable
        _current.remove(stop)


@contextlib.contextmanager
def held_back():
    """A stop signal that comes during the block waits for its end: the block (a backup of
    a finished epoch) is written whole, then the script stops. A second signal still ends
    the process at once (the backup's own design keeps it readable then)."""
    stop = _current[-1] if _current else None
    if stop is None:
        yield
        return
    stop.holding += 1
    try:
        yield
    finally:
        stop.holding -= 1
    if not stop.holding and stop.requested.is_set():
        raise KeyboardInterrupt


def stop_signal(stop):
    """The signal that stopped the run (SIGINT when none was recorded: Python's own Ctrl-C)."""
    return signal.SIGINT if stop is None or stop.signum is None else stop.signum
