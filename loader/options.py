"""What a check, a run or an undo is asked to do, as plain values built once.

The command line builds these from its options, the page from its form and
the catalogue it was started with, and Python callers by hand; each hands
them whole to `check_batch`, `run_batch` or `undo_run`. So a new option is
one field here, seen by every caller and by the type checker, and never a
list of keywords copied from one layer to the next.

`CheckOptions.for_target` is the one place that gives a catalogue's own
upload limit (150 MB for the BC Data Catalogue's hosts) to the check, so the
page and the command line refuse the same files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from loader.client.hosts import upload_limit

if TYPE_CHECKING:
    from loader.model import Outcome
    from loader.schema import Schema


# Datasets worked on at once (--jobs on the command line, "Workers" on the page).
JOBS_DEFAULT = 1
JOBS_LIMIT = 16


class _Limit(Enum):
    TARGETS = "the target catalogue's own upload limit"


# Seconds a run waits, after its rows are done, for the DataStore loads of the files it
# sent, each counted from its upload: long enough for the queue to take a month's files
# of a few hundred thousand rows (a 600,000-row CSV loads in 40 to 150 s on the local
# catalogue), short enough that a stuck queue holds an unattended run ten minutes at most.
DATASTORE_WAIT = 600

# For CheckOptions.for_target: the upload limit the target catalogue is known to have.
TARGETS_LIMIT: Final = _Limit.TARGETS
# A largest file to upload: bytes, None for no limit, or the target's own limit.
MaxFileSize = int | None | Literal[_Limit.TARGETS]


@dataclass(frozen=True)
class CheckOptions:
    """How a batch is read and checked, offline."""

    sheet: str | None = None  # the workbook sheet; None: 'Batch', else the first
    schema: Schema | None = None  # None: the schema shipped with the loader
    max_file_size: int | None = None  # bytes a file to upload may have; None: no limit
    files_from: tuple[Path, ...] = ()  # folders files may come from besides the batch's
    trusted_files: tuple[Path, ...] = ()  # files to upload not looked inside (known fine)

    @classmethod
    def for_target(
        cls,
        url: str | None,
        *,
        sheet: str | None = None,
        schema: Schema | None = None,
        files_from: Iterable[Path | str] = (),
        max_file_size: MaxFileSize = TARGETS_LIMIT,
        trusted_files: Iterable[Path | str] = (),
    ) -> CheckOptions:
        """The options for a batch meant for the catalogue at `url` (None: not known):
        unless `max_file_size` says otherwise (a number of bytes, or None for no
        limit), a file larger than that catalogue takes makes its row invalid."""
        if max_file_size is TARGETS_LIMIT:
            max_file_size = upload_limit(url) if url else None
        return cls(
            sheet,
            schema,
            max_file_size,
            tuple(Path(p) for p in files_from),
            tuple(Path(p) for p in trusted_files),
        )


@dataclass(frozen=True)
class RunOptions:
    """How a batch is run against a catalogue."""

    check: CheckOptions = field(default_factory=CheckOptions)
    dry_run: bool = False  # say what each row would do; write nothing
    skip_invalid: bool = False  # run the valid rows even when some are invalid
    jobs: int = JOBS_DEFAULT  # datasets worked on at once, up to JOBS_LIMIT
    fold: bool = True  # consecutive rows of a dataset that move no file as one call
    force_upload: bool = False  # send a file even when the resource holds it
    touch: bool = False  # an unchanged file still records its refresh (last_modified)
    resume: bool = False  # continue the run whose journal is beside the result
    keep_replaced: Path | None = None  # keep each uploaded file a row replaces here
    # seconds to wait for the DataStore loads of the files sent (0: only say how they stand)
    datastore_wait: float = DATASTORE_WAIT


@dataclass(frozen=True)
class UndoOptions:
    """How a run is undone."""

    dry_run: bool = False  # say what undoing each row would do; write nothing
    force: bool = False  # undo resources changed after the run too
    schema: Schema | None = None  # None: the schema shipped with the loader
    # seconds to wait for the DataStore loads of the files put back (0: only say how they stand)
    datastore_wait: float = DATASTORE_WAIT


@dataclass(frozen=True)
class Listeners:
    """Who hears a run or an undo as it goes (each is called from worker threads)."""

    on_start: Callable[[int], None] | None = None  # how many row outcomes will follow
    on_outcome: Callable[[Outcome], None] | None = None  # each of them
    on_bytes: Callable[[int], None] | None = None  # bytes of an upload just sent
    on_load: Callable[[Outcome], None] | None = None  # an outcome's DataStore state changed
