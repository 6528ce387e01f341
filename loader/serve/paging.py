"""A batch's rows a page at a time: what keeps the page quick with 5,000 rows.

Each table of a batch's page (the check, the preview, the run) draws one page
of PAGE_ROWS rows, whichever page the editor asked for, so the page holds a
few hundred rows however long the batch is; the result and checked
workbooks hold them all. A running job's statuses are asked for the rows of
the page shown only, and only those finished since the last poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from loader.serve.jobs import Job, JobSnapshot, RowSnapshot

PAGE_ROWS = 200  # rows a table draws at once

Item = TypeVar("Item")


@dataclass(frozen=True)
class Paging:
    """Which rows of a list a table shows: page `page` (from 1) of `pages`."""

    page: int
    pages: int
    start: int  # index of the first row shown
    stop: int  # index after the last row shown
    total: int

    @classmethod
    def of(cls, total: int, asked: int = 1, size: int = PAGE_ROWS) -> Paging:
        """Page `asked` of `total` rows (the nearest page there is)."""
        pages = max(1, -(-total // size))
        page = min(max(asked, 1), pages)
        start = (page - 1) * size
        return cls(page, pages, start, min(start + size, total), total)

    def window(self, items: Sequence[Item]) -> list[Item]:
        """The items of this page."""
        return list(items[self.start : self.stop])

    @property
    def shown(self) -> str:
        """ "rows 201 to 400 of 5,000", in words."""
        if self.total <= self.stop - self.start:
            return f"{self.total:,} row{'' if self.total == 1 else 's'}"
        return f"rows {self.start + 1:,} to {self.stop:,} of {self.total:,}"


@dataclass(frozen=True)
class JobView:
    """A preview or run as its table draws it: one page of its rows, with the
    status of each row finished so far."""

    job: Job
    snap: JobSnapshot
    paging: Paging
    rows: list[tuple[int, RowSnapshot | None]]  # (row number, its status if finished)

    @classmethod
    def of(cls, job: Job, page: int) -> JobView:
        paging = Paging.of(len(job.rows), page)
        numbers = paging.window(job.rows)
        first, last = (numbers[0], numbers[-1]) if numbers else (0, -1)
        snap = job.snapshot(first=first, last=last)
        done = {r["row"]: r for r in snap["rows"]}
        return cls(job, snap, paging, [(n, done.get(n)) for n in numbers])

    @property
    def first(self) -> int:
        """The first row number drawn (the script asks for the statuses of these)."""
        return self.rows[0][0] if self.rows else 0

    @property
    def last(self) -> int:
        return self.rows[-1][0] if self.rows else -1
