"""Follow the DataStore loads of the files a run sends, while its other rows go on.

A file stored is not yet data anyone can query: the catalogue's loader
(ckanext-xloader or DataPusher) loads it into the DataStore afterwards, in a
job queue, and a load can fail or hang. So each row that sends a file the
catalogue loads is followed: one thread beside the lanes asks the loader's
status of each load, at most one question at a time and SPACING apart, each
load first POLL_FIRST seconds after its upload and then less and less often
(up to POLL_CAP apart), so a thousand loads cost the catalogue ten reads a
second at most, and no lane ever waits for a load. When the rows are done,
the run waits for the loads still under way, each at most `wait` seconds
after its upload (0: not at all, though each is still asked once how it
stands); a stop (Ctrl-C) ends the wait at once.

A status is taken as the load of the file this run sent only when the job
was queued after that file was stored: a new upload while an older load
runs leaves the older job's status (and, for a moment, its end) in view.
The moment the file was stored comes from the catalogue's own clock (the
saved resource's `metadata_modified`, less the time the call took, which
covers the second call a two-step upload makes), so the machine's clock does
not matter. A status that stays an older job's, or none at all, for
STALE_AFTER seconds means the catalogue started no load for the file.

Each row's DataStore words are recorded as they change (`Recorder.record_load`):
the result workbook, the journal and the page all see them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from loader.client import CatalogueAPI, CatalogueError, LoadStatus
from loader.client.loads import moment_of
from loader.datastore import (
    NO_LOAD_STARTED,
    NOT_FOLLOWED,
    failed_words,
    loadable,
    loaded_words,
    loading_words,
    not_loaded_words,
)
from loader.model import LoadState, Outcome, Status
from loader.options import DATASTORE_WAIT
from loader.pipeline.operations import Action, Operation
from loader.pipeline.record import Recorder

POLL_FIRST = 1.0  # seconds after the upload before the first look
POLL_GROWTH = 1.5  # each look at a load still under way comes this much later than the last
POLL_CAP = 10.0  # ... and at most this long after it
SPACING = 0.1  # at least this long between two looks (ten a second at most)
STALE_AFTER = 30.0  # no load of the file in view this long after its upload: none started
LOADING = "loading"  # the words while a load is followed

log = logging.getLogger(__name__)


@dataclass
class _Load:
    """One load being followed."""

    row: int
    resource_id: str
    after: datetime | None  # the job must have been queued after this (None: any job)
    started: float  # when following began (monotonic)
    next_look: float
    interval: float
    seen: LoadStatus | None = None  # the last status that was this file's
    trouble: str = ""  # why the last look got no status


class Follower:
    """The DataStore loads of one run, followed by one background thread."""

    def __init__(
        self,
        catalogue: CatalogueAPI,
        recorder: Recorder,
        wait: float = DATASTORE_WAIT,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll: float | None = None,
    ):
        self.catalogue = catalogue
        self.recorder = recorder
        self.wait = max(wait, 0.0)
        self.clock = clock
        self.poll = POLL_FIRST if poll is None else poll
        self._loader: tuple[str | None, str] | None = None  # asked when first needed
        self._loads: dict[int, _Load] = {}
        self._changed = threading.Condition()
        self._finishing = False
        self._ending = False  # stopped: every load gets its last look now
        self._thread: threading.Thread | None = None

    # -- the lanes' side ---------------------------------------------------------------

    def record(self, op: Operation, outcome: Outcome, took: float) -> None:
        """Record a row's outcome, with the DataStore words of the file it sent (if
        any), and follow its load. `took`: seconds the row's call took."""
        wanted, after = self._wanted(op, outcome, took)
        loader, unknown = self.loader() if wanted else (None, "")
        if wanted and loader is None:
            outcome = replace(outcome, load=LoadState.NOT_FOLLOWED, datastore=unknown)
        elif wanted:
            outcome = replace(outcome, load=LoadState.LOADING, datastore=LOADING)
        elif op.upload is not None and outcome.saved and outcome.saved.get("id"):
            words = not_loaded_words(outcome.saved)
            outcome = replace(outcome, load=LoadState.NOT_LOADED, datastore=words)
        self.recorder.record(outcome)
        if wanted and loader is not None:
            self._follow(outcome.row, str(outcome.resource_id), after)

    def loader(self) -> tuple[str | None, str]:
        """The catalogue's DataStore loader (asked once), and the words for a file not
        followed when it has none."""
        if self._loader is None:
            self._loader = _loader_of(self.catalogue)
        return self._loader

    @staticmethod
    def _wanted(op: Operation, outcome: Outcome, took: float) -> tuple[bool, datetime | None]:
        """Whether the row has a load to follow, and the moment its job must have been
        queued after to be the load of this row's file (None: any job is)."""
        resource = outcome.saved or {}
        if op.action == Action.RELOAD and outcome.status == Status.DONE:
            return True, moment_of(op.last_load.submitted) if op.last_load else None
        if op.action == Action.NOOP and op.last_load is not None:
            return True, None  # a load already under way for the unchanged file
        if op.upload is not None and resource.get("id") and loadable(resource):
            return True, None if op.action == Action.CREATE else _stored(resource, took)
        return False, None

    def _follow(self, row: int, resource_id: str, after: datetime | None) -> None:
        now = self.clock()
        first = now + self.poll if self.wait else float("inf")  # 0: one look at the end
        with self._changed:
            self._loads[row] = _Load(row, resource_id, after, now, first, self.poll)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="datastore-loads", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    # -- the end of the run --------------------------------------------------------------

    def finish(self, stop: threading.Event | None = None) -> None:
        """Wait for the loads still under way, each until `wait` seconds after its
        upload; a `stop` set meanwhile ends the wait. Every load followed then has
        its words."""
        with self._changed:
            self._finishing = True
            self._changed.notify_all()
            while self._loads and self._thread is not None and self._thread.is_alive():
                if stop is not None and stop.is_set() and not self._ending:
                    self._ending = True
                    self._changed.notify_all()
                self._changed.wait(0.2)
        self._join()

    def abandon(self) -> None:
        """Stop following at once (the run was interrupted); loads keep their words."""
        with self._changed:
            self._loads.clear()
            self._finishing = True
            self._changed.notify_all()
        self._join()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=30)

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._changed:
                load = self._next()
                if load is None:
                    return
                spaced = not self._finishing  # while rows go on, the lanes come first
            try:
                self._look(load)
            except Exception as error:  # a bug must not leave the run waiting for ever
                log.exception("following the load of row %s", load.row)
                with self._changed:
                    self._loads.pop(load.row, None)
                    self._changed.notify_all()
                self.recorder.record_load(load.row, LoadState.NOT_FOLLOWED,
                                          f"not followed: {error!r}")  # fmt: skip
            if spaced:
                time.sleep(SPACING)

    def _next(self) -> _Load | None:
        """The load to look at next, once it is due (None: nothing left to follow)."""
        while True:
            if not self._loads and self._finishing:
                return None
            now = self.clock()
            for load in self._loads.values():
                if self._last_call(load, now):
                    load.next_look = min(load.next_look, now)
            due = min(self._loads.values(), key=lambda x: x.next_look, default=None)
            if due is not None and due.next_look <= now:
                return due
            pause = 1.0 if due is None else min(due.next_look - now, 1.0)
            self._changed.wait(pause)

    def _last_call(self, load: _Load, now: float) -> bool:
        """Whether this look at the load is its last: the run has ended and waits no more."""
        return self._ending or (self._finishing and now - load.started >= self.wait)

    def _look(self, load: _Load) -> None:
        """Ask how the load stands; record its end, or look again later."""
        last = self._last_call(load, self.clock())
        try:
            status = self.catalogue.load_status(load.resource_id)
        except CatalogueError as error:
            status, load.trouble = None, error.message
        else:
            load.trouble = ""
        ended = self._verdict(load, status, last)
        with self._changed:
            if ended is not None:
                self._loads.pop(load.row, None)
                self._changed.notify_all()
            else:
                load.interval = min(load.interval * POLL_GROWTH, POLL_CAP)
                load.next_look = self.clock() + load.interval if self.wait else float("inf")
        if ended is not None:
            self.recorder.record_load(load.row, *ended)

    def _verdict(
        self, load: _Load, status: LoadStatus | None, last: bool
    ) -> tuple[LoadState, str, str] | None:
        """The load's end (state, words, the loader's own text), or None to look again."""
        age = self.clock() - load.started
        mine = status is not None and status.newer_than(load.after)
        if status is not None and (mine or not status.finished):
            # an older job still queued loads this file too: it fetches the file it starts
            load.seen = status
            if mine and status.failed:
                return LoadState.FAILED, failed_words(status.error), _detail(status.error)
            if mine and status.finished:
                return self._loaded(load)
        elif not load.trouble and (last or age >= STALE_AFTER):
            return LoadState.FAILED, NO_LOAD_STARTED, ""
        if not last:
            return None
        if load.seen is None and load.trouble:
            return LoadState.NOT_FOLLOWED, f"not followed: {load.trouble}", ""
        state = load.seen.state if load.seen else ""
        return LoadState.LOADING, loading_words(age, state), ""

    def _loaded(self, load: _Load) -> tuple[LoadState, str, str]:
        try:
            total = self.catalogue.datastore_total(load.resource_id)
        except CatalogueError as error:
            return LoadState.LOADED, "loaded", f"the DataStore did not say how many rows: {error}"
        if total is None:
            words = "load failed: the loader finished, but the DataStore holds no table for it"
            return LoadState.FAILED, words, ""
        return LoadState.LOADED, loaded_words(total), ""


@contextlib.contextmanager
def following(
    catalogue: CatalogueAPI,
    recorder: Recorder,
    wait: float,
    stop: threading.Event | None,
) -> Iterator[Follower]:
    """A Follower for the rows run inside; when they are done, wait for their loads
    (not when the run was interrupted: then it stops following at once)."""
    follower = Follower(catalogue, recorder, wait)
    try:
        yield follower
    except BaseException:
        follower.abandon()
        raise
    follower.finish(stop)


def _loader_of(catalogue: CatalogueAPI) -> tuple[str | None, str]:
    """The catalogue's DataStore loader, and the words for a file not followed."""
    try:
        return catalogue.datastore_loader(), NOT_FOLLOWED
    except CatalogueError as error:
        return None, f"not followed: the catalogue did not say what loads its DataStore ({error})"


def _stored(resource: dict[str, object], took: float) -> datetime | None:
    """When the catalogue stored the file, by its own clock: the saved resource's
    metadata_modified, less the time the call took (None: any job is the file's)."""
    saved = moment_of(str(resource.get("metadata_modified") or ""))
    return None if saved is None else saved - timedelta(seconds=took)


def _detail(reason: str) -> str:
    """The loader's own text, kept in the row's error beside the words."""
    return f"DataStore loader: {reason}" if reason else ""
