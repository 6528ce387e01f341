"""The batch-level checks: what no single cell shows.

Pairs of cells that contradict each other (an extent that ends before it
begins), files to upload that are not there, and rows that cannot all work
given that rows of one resource run in sheet order.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from loader import problems
from loader.model import MAKING_OPS, Op
from loader.pinned import PinnedFile
from loader.pipeline.validate.cells import DATE
from loader.pipeline.validate.rules import Found, Instance
from loader.text import show_size

# (earlier, later, message): pairs of cells where the second must not come before the first.
EXTENT_PAIRS = (
    (
        "temporal_extent.beginning_date",
        "temporal_extent.end_date",
        "the end date is before the beginning date",
    ),
    (
        "geographic_extent.south_bound_latitude",
        "geographic_extent.north_bound_latitude",
        "the north bound latitude is south of the south bound latitude",
    ),
)


def extent_problems(instance: Instance) -> list[Found]:
    """Extents that end before they begin: no single cell is wrong, the pair is."""
    out: list[Found] = []
    for low, high, body in EXTENT_PAIRS:
        a, b = instance.get(low), instance.get(high)
        if a is None or b is None:
            continue
        if isinstance(a, str) or isinstance(b, str):  # dates, or numbers that are not numbers
            if not (isinstance(a, str) and isinstance(b, str)):
                continue
            if not (DATE.fullmatch(a) and DATE.fullmatch(b)):
                continue
        if b < a:
            detail = problems.INCONSISTENT_EXTENT.message(detail=body)
            out.append((problems.INCONSISTENT_EXTENT.code, high, detail))
    return out


# A path written on Windows that names another computer's disk: a drive letter, or a
# network share (\\server\share).
_WINDOWS_DRIVE = re.compile(r"([A-Za-z]):[\\/]")
_WINDOWS_SHARE = re.compile(r"\\\\([^\\/]+)[\\/]+([^\\/]+)")
_ON_WINDOWS = os.sep == "\\"


def upload_path(base: Path, text: str) -> Path:
    """The file an upload cell names, before links are followed: relative to `base`
    (the batch's folder) unless absolute.

    Excel users on Windows write paths with backslashes (`files\\sites.csv`);
    elsewhere a backslash is a letter of a file's name, so such a path is read
    with the backslashes as folder separators, unless a file of that very name
    exists (then it is meant)."""
    written = base / Path(text).expanduser()
    if _ON_WINDOWS or "\\" not in text or os.path.lexists(written):
        return written
    return base / Path(text.replace("\\", "/")).expanduser()


def foreign_path(base: Path, text: str) -> Found | None:
    """The problem of a path written for a Windows computer's own disk (`C:\\...`,
    `\\\\server\\share\\...`) met on another system, where it names nothing; None for
    any other path. The message says what to write instead: the part of the path
    that is found from the batch's folder, when some is."""
    drive, share = _WINDOWS_DRIVE.match(text), _WINDOWS_SHARE.match(text)
    if _ON_WINDOWS or not (drive or share) or os.path.lexists(base / text):
        return None
    where = f"drive {drive.group(1).upper()}:" if drive else "a network folder"
    parts = [p for p in re.split(r"[\\/]+", text) if p][1 if drive else 2 :]
    tails = [parts[i:] for i in range(len(parts)) if ".." not in parts[i:]]
    found = next(("\\".join(t) for t in tails if base.joinpath(*t).is_file()), None)
    if found:
        hint = f": the file is found there as '{found}', so write that"
    elif parts:
        hint = (
            f", with the file in that folder or below it (for a file beside the batch, "
            f"'{parts[-1]}'; in a folder 'files' there, 'files\\{parts[-1]}')"
        )
    else:
        hint = ""
    body = problems.UPLOAD_WINDOWS_PATH.message(text=text, where=where, hint=hint)
    return problems.UPLOAD_WINDOWS_PATH.code, "upload", body


class Uploads:
    """Files the batch names, each looked at once: {cell text: (absolute path, problem)}.

    A file must be inside the batch's folder or one of `files_from`, after every
    symbolic link is followed: a batch received from someone else must not be
    able to publish whatever its runner can read (`~/.ssh/id_rsa`, `../../etc`).
    A file over `max_size` bytes is refused here, before anything is written:
    the catalogue would refuse it only after the whole file was sent. A file
    that passes is pinned (`pinned`): every later read checks it is that file.
    """

    def __init__(
        self, base: Path, files_from: Iterable[Path | str] = (), max_size: int | None = None
    ):
        self.base = base
        self.roots = [base.resolve(), *(Path(d).expanduser().resolve() for d in files_from)]
        self.max_size = max_size
        self.seen: dict[str, tuple[Path, Found | None]] = {}
        self.pins: dict[str, PinnedFile] = {}

    def check(self, text: str) -> tuple[Path, Found | None]:
        """The file's absolute path, and what is wrong with it (None when it is a file)."""
        if text not in self.seen:
            self.seen[text] = self._look(text)
        return self.seen[text]

    def pinned(self, text: str) -> PinnedFile:
        """The file a cell names, as it was checked (call `check` first: only a file
        without problems is pinned)."""
        return self.pins[text]

    def _look(self, text: str) -> tuple[Path, Found | None]:
        written = upload_path(self.base, text)
        foreign = foreign_path(self.base, text)
        if foreign is not None:
            return written, foreign
        try:
            path = written.resolve(strict=False)
        except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError on a loop
            reason = "it is a symbolic link that leads back to itself (a loop)"
            body = problems.UPLOAD_UNREADABLE.message(text=text, reason=reason)
            return written, (problems.UPLOAD_UNREADABLE.code, "upload", body)
        if not any(path.is_relative_to(root) for root in self.roots):
            folders = " or ".join(str(root) for root in self.roots)
            body = problems.UPLOAD_OUTSIDE.message(text=text, path=str(path), folders=folders)
            return path, (problems.UPLOAD_OUTSIDE.code, "upload", body)
        return path, self._problem(text, path)

    def _problem(self, text: str, path: Path) -> Found | None:
        try:
            status = path.stat()
            size = status.st_size
        except FileNotFoundError:
            body = problems.UPLOAD_MISSING.message(text=text, path=str(path))
            return problems.UPLOAD_MISSING.code, "upload", body
        except OSError as exc:
            reason = exc.strerror or str(exc)
            body = problems.UPLOAD_UNREADABLE.message(text=text, reason=reason)
            return problems.UPLOAD_UNREADABLE.code, "upload", body
        if not path.is_file():
            body = problems.UPLOAD_NOT_FILE.message(text=text)
            return problems.UPLOAD_NOT_FILE.code, "upload", body
        if not os.access(path, os.R_OK):
            reason = "you have no permission to read it"
            body = problems.UPLOAD_UNREADABLE.message(text=text, reason=reason)
            return problems.UPLOAD_UNREADABLE.code, "upload", body
        if self.max_size is not None and size > self.max_size:
            limit = show_size(self.max_size)
            body = problems.UPLOAD_TOO_LARGE.message(text=text, size=show_size(size), limit=limit)
            return problems.UPLOAD_TOO_LARGE.code, "upload", body
        self.pins[text] = PinnedFile(
            path, status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns
        )
        return None


Target = tuple[str, ...]


def _target(instance: Instance) -> Target | None:
    if instance.get("resource_id"):
        return ("resource_id", instance["resource_id"])
    if instance.get("package") and instance.get("name"):
        return ("name", instance["package"], instance["name"])
    return None


def _describe(target: Target) -> str:
    if target[0] == "resource_id":
        return f"resource '{target[1]}'"
    return f"resource '{target[2]}' in dataset '{target[1]}'"


def collisions(rows: Mapping[int, tuple[Op, Instance]]) -> dict[int, list[Found]]:
    """Rows that cannot all work, given that rows of one resource run in sheet order.

    A later row may act on what an earlier row creates or changes; what cannot
    work is creating one name twice, acting on a resource an earlier row
    deleted (unless a row in between creates it again), or two reorder rows
    for one dataset.
    """
    by_target: dict[Target, list[int]] = defaultdict(list)
    out: dict[int, list[Found]] = defaultdict(list)
    reordered: dict[str, int] = {}  # dataset as written -> its reorder row
    for number, (op, instance) in sorted(rows.items()):
        if op == Op.REORDER:
            package = str(instance.get("package") or "")
            if package in reordered:
                body = problems.DUPLICATE_REORDER.message(other=reordered[package], package=package)
                out[number].append((problems.DUPLICATE_REORDER.code, "package", body))
            reordered.setdefault(package, number)
            continue
        target = _target(instance)
        if target is not None:
            by_target[target].append(number)
    for target, numbers in by_target.items():
        _follow(target, sorted(numbers), {n: rows[n][0] for n in numbers}, out)
    return out


def _follow(target: Target, numbers: list[int], ops: dict[int, Op], out: Any) -> None:
    """Walk one resource's rows in sheet order, noting those that cannot work."""
    column = "resource_id" if target[0] == "resource_id" else "name"
    created_by: int | None = None
    deleted_by: int | None = None
    for n in numbers:
        op = ops[n]
        if op in MAKING_OPS and deleted_by is not None:
            created_by, deleted_by = n, None  # made again after the delete
        elif op == Op.CREATE:
            if created_by is not None:
                body = problems.DUPLICATE_CREATE.message(other=created_by, target=_describe(target))
                out[n].append((problems.DUPLICATE_CREATE.code, column, body))
            created_by = n
        elif deleted_by is not None:
            body = problems.CONFLICTING_TARGET.message(
                other=deleted_by, target=_describe(target), op=op
            )
            out[n].append((problems.CONFLICTING_TARGET.code, column, body))
        elif op == Op.DELETE:
            deleted_by = n
        elif op == Op.UPSERT and created_by is None:
            created_by = n
