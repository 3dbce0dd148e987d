"""Ctrl-C: every script stops with exit code 130 and `interrupted` as its last line.

Script machinery, not the book: `command_line.run` calls `stopping_on_ctrl_c()` around a
script's `main`. Python's own Ctrl-C handling raises KeyboardInterrupt wherever the main
thread happens to be when the signal is handled, and some places lose it:

- code that catches every exception and goes on. Keras itself does, after every batch:
  when a callback has batch hooks (ModelCheckpoint has), it converts the batch's logs to
  floats on the main thread inside a bare `try: ... except: pass` (`pythonify_logs` in
  Keras 3.15), so a Ctrl-C handled there vanishes without a word and training goes on
  (measured: a SIGINT sent from inside that conversion left `convnet.py scratch` training
  60 s later, at epoch 75). C code that clears any error it gets does the same;
- an object's `__del__` or a weakref callback, where Python only prints "Exception
  ignored in ..." with a traceback and goes on.

So the handler here records the request, raises KeyboardInterrupt as Python's would, and
keeps raising it once a second until the script has stopped; a lost interrupt in a
`__del__` is not reported, since the next one follows. A second Ctrl-C ends the process at
once. None of this depends on where the script is: inside a training batch, validation,
a callback, VGG16's feature extraction, a file copy or a loop of folds.
"""

import _thread
import contextlib
import os
import signal
import sys
import threading

REPEAT_SECONDS = 1.0  # how long a lost interrupt goes unnoticed, at most


class _Stop:
    """The state of one run: whether Ctrl-C was pressed, and whether the script has stopped."""

    def __init__(self):
        self.requested = threading.Event()
        self.stopped = threading.Event()
        self.repeating = False  # the next SIGINT is the repeat's, not the reader's
        self.repeater = threading.Thread(target=self.repeat, daemon=True)

    def on_sigint(self, signum, frame):
        if self.stopped.is_set():  # a repeat that came as the script was stopping
            return
        if self.repeating:
            self.repeating = False
        elif self.requested.is_set():  # the reader pressed Ctrl-C again: stop at once
            print("interrupted", file=sys.stderr, flush=True)
            os._exit(130)
        else:
            self.requested.set()
            self.repeater.start()
        raise KeyboardInterrupt

    def repeat(self):
        """Raise KeyboardInterrupt in the main thread again each second until it stopped."""
        while not self.stopped.wait(REPEAT_SECONDS):
            self.repeating = True
            _thread.interrupt_main(signal.SIGINT)


@contextlib.contextmanager
def stopping_on_ctrl_c():
    """Meanwhile, Ctrl-C raises KeyboardInterrupt until the script stops (see the module's
    docstring), and any exception after a Ctrl-C leaves as KeyboardInterrupt; the caller
    turns it into `interrupted` and exit code 130. Does nothing where SIGINT is ignored (a
    script started with nohup, or with `&` in some shells) or outside the main thread,
    where Python cannot set a signal handler."""
    previous = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or previous is not signal.default_int_handler):
        yield None
        return
    stop = _Stop()
    report_unraisable = sys.unraisablehook

    def quiet_about_lost_interrupts(unraisable):
        if not (stop.requested.is_set() and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            report_unraisable(unraisable)

    signal.signal(signal.SIGINT, stop.on_sigint)
    sys.unraisablehook = quiet_about_lost_interrupts
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
        signal.signal(signal.SIGINT, previous)  # (which first runs a pending handler)
        sys.unraisablehook = report_unraisable
