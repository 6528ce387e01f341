"""What the command line does on the editor's terminal: lines printed safely, a
progress bar, and Ctrl-C or SIGTERM turned into a clean stop.

Text from a batch or a catalogue never reaches the terminal raw (an escape
sequence in a cell could rewrite what the editor sees). A first Ctrl-C (or
the SIGTERM a scheduler sends) lets the calls under way finish and runs no
more; a second stops at once, with the results so far written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from loader.text import for_terminal, show_size

if TYPE_CHECKING:
    from loader.model import Outcome
    from loader.options import Listeners


def say(text: object, err: bool = False) -> None:
    """Print a line, every control character in it escaped."""
    click.echo(for_terminal(str(text)), err=err)


# -- stopping: Ctrl-C and SIGTERM ----------------------------------------------------

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stopping(result_path: Path | None) -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM: the first sets the event (calls under way finish, the rest
    do not run), the second stops at once, the results so far written."""
    stop = threading.Event()
    handler = _Stopper(stop)
    previous = {number: signal.signal(number, handler) for number in _STOP_SIGNALS}
    try:
        yield stop
    except KeyboardInterrupt:
        say(f"Stopped at once. Results so far: {result_path}", err=True)
        # Threads may still wait on requests under way; everything is recorded, so do
        # not wait for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


class _Stopper:
    """First Ctrl-C (or SIGTERM): finish the calls under way, then stop. Second: stop
    at once. Any more: ignored, so that the results are written whole."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.hard = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        if self.hard:
            say("\nWriting the results; one moment...", err=True)
            return
        if self.stop.is_set():
            self.hard = True
            raise KeyboardInterrupt
        self.stop.set()
        say(
            "\nStopping after the calls under way finish (Ctrl-C again to stop at once)...",
            err=True,
        )


# -- the progress bar ------------------------------------------------------------------


class _Progress:
    """A progress bar that appears once the number of rows to run is known, and
    counts the bytes of uploads as they go (a long upload is not a frozen bar),
    then the DataStore loads of the files sent (the run waits for them at the end).

    Safe from worker threads. When disabled, or before `start`, it does nothing.
    """

    REDRAW = 0.25  # seconds between redraws for bytes alone

    def __init__(self, stack: contextlib.ExitStack, enabled: bool):
        self._stack = stack
        self._enabled = enabled
        self._bar: Any = None
        self._lock = threading.Lock()
        self._bytes = 0
        self._drawn = 0.0
        self._loads: dict[int, str] = {}  # row -> its file's DataStore state

    def start(self, total: int) -> None:
        if self._enabled and total:
            bar = click.progressbar(
                length=total, label="Rows", file=sys.stderr, item_show_func=self._uploaded
            )
            self._bar = self._stack.enter_context(bar)

    def advance(self, outcome: Outcome) -> None:
        with self._lock:
            if outcome.load is not None:
                self._loads[outcome.row] = str(outcome.load)
            if self._bar is not None:
                self._bar.update(1)

    def load_changed(self, outcome: Outcome) -> None:
        with self._lock:
            if outcome.load is not None:
                self._loads[outcome.row] = str(outcome.load)
            if self._bar is not None:
                self._bar.render_progress()

    def sent(self, count: int) -> None:
        with self._lock:
            self._bytes += count
            now = time.monotonic()
            if self._bar is not None and now - self._drawn >= self.REDRAW:
                self._drawn = now
                self._bar.render_progress()

    def _uploaded(self, _item: object) -> str | None:
        said = [f"{show_size(self._bytes)} uploaded"] if self._bytes else []
        if self._loads:
            states = Counter(self._loads.values())
            said.append("DataStore: " + ", ".join(f"{n} {s}" for s, n in states.items()))
        return "; ".join(said) or None


@contextlib.contextmanager
def progress(enabled: bool) -> Iterator[Listeners]:
    """The listeners of a progress bar for one run (on a terminal, when `enabled`),
    closed however the run ends."""
    from loader.options import Listeners

    with contextlib.ExitStack() as stack:
        bar = _Progress(stack, enabled and sys.stderr.isatty())
        yield Listeners(bar.start, bar.advance, bar.sent, bar.load_changed)
