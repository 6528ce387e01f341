"""Check a read batch against the schema, offline, and report every problem at once.

Four kinds of check, each in its own module and each built once per schema:

- `cells`: one value against its column's rules (allowed values, numbers and
  ranges, dates, URLs, JSON); each distinct value of a column is checked once;
- `rules`: what the row's operation needs (required fields, targets, the
  conditional rules, read-only fields, `<clear>`); each distinct row shape is
  checked once;
- `batch`: what no single row shows (extents, files to upload, rows that
  collide);
- `contents`: what is inside each file to upload (a table the DataStore could
  not load, a format that is not the file's, JSON that does not parse), read
  once per file, streamed.

A 50,000-row batch thus costs a few thousand validator calls, not 50,000 x 30.
Nothing here talks to the catalogue: whether ids and names exist is the
planner's business.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loader import problems
from loader.model import CLEAR, MAKING_OPS, Batch, CheckedRow, Op, Problem, Row, blocking
from loader.pipeline.validate.batch import Uploads, collisions, extent_problems
from loader.pipeline.validate.cells import CellChecker, is_op
from loader.pipeline.validate.contents import Contents
from loader.pipeline.validate.rules import CLEARED, Found, Instance, RowChecker
from loader.schema import CONTROL_COLUMNS, Schema, resource_cells
from loader.spreadsheet import CELL_LIMIT
from loader.text import UNSAFE_IN_CELL, escape, quote

__all__ = ["resource_problems", "validate_batch"]

# When a cell has one of these problems, the others on the same cell are noise.
_OVERRIDING = (
    problems.CLEAR_NOT_ALLOWED.code,
    problems.READ_ONLY.code,
    problems.FORMULA_NOT_COMPUTED.code,
    problems.CONTROL_CHARACTER.code,
    problems.CELL_TOO_LONG.code,
)


@dataclass
class _Checkers:
    cells: CellChecker
    rows: RowChecker


_compiled: weakref.WeakKeyDictionary[Schema, _Checkers] = weakref.WeakKeyDictionary()


def _checkers(schema: Schema) -> _Checkers:
    """The schema's compiled checks, with empty caches for one batch."""
    compiled = _compiled.get(schema)
    if compiled is None:
        compiled = _compiled[schema] = _Checkers(CellChecker(schema), RowChecker(schema))
    return _Checkers(compiled.cells.fresh(), compiled.rows.fresh())


@dataclass
class _RowCheck:
    """One row's converted values and what is wrong with it."""

    instance: Instance = field(default_factory=dict)
    clears: list[str] = field(default_factory=list)
    found: list[Found] = field(default_factory=list)
    op: Op | None = None


def validate_batch(
    batch: Batch,
    schema: Schema,
    files_from: Iterable[Path | str] = (),
    *,
    max_file_size: int | None = None,
    trusted_files: Iterable[Path | str] = (),
) -> tuple[list[Problem], list[CheckedRow]]:
    """Every problem in the batch, and the rows that have none, ready for the catalogue.

    A file to upload larger than `max_file_size` bytes makes its row invalid.
    Each file to upload is looked inside (`contents`), except `trusted_files`;
    what it finds may be a warning, which is among the problems returned but
    leaves its row ready.

    Problems come in row order, then column order; batch-level problems
    (rows that collide, uploads) are attached to the rows they concern.
    Files to upload must be in the batch's folder or one of `files_from`.
    """
    checkers = _checkers(schema)
    uploads = Uploads(Path(batch.path).resolve().parent, files_from, max_file_size)
    contents = Contents(trusted_files)
    checks = {
        row.number: _check_row(row, checkers, uploads, contents, batch.from_result)
        for row in batch.rows
    }
    ops = {n: (c.op, c.instance) for n, c in checks.items() if c.op is not None}
    for number, found in collisions(ops).items():
        checks[number].found.extend(found)

    order = {c: i for i, c in enumerate(schema.column_names())}
    problems_out: list[Problem] = []
    checked: list[CheckedRow] = []
    for row in batch.rows:
        check = checks[row.number]
        found = _tidy(check.found)
        found.sort(key=lambda p: order.get(p[1], -1) if p[1] else -1)
        row_problems = [_problem(batch, row.number, *p) for p in found]
        problems_out.extend(row_problems)
        if check.op is not None and not blocking(row_problems):
            checked.append(_checked_row(row, check, uploads))
    return problems_out, checked


def _check_row(
    row: Row, checkers: _Checkers, uploads: Uploads, contents: Contents, from_result: bool
) -> _RowCheck:
    check = _RowCheck()
    joined = "".join(row.values.values())  # one look for the rare unsafe cell, not one a cell
    if len(joined) > CELL_LIMIT or UNSAFE_IN_CELL.search(joined):
        check.found.extend(_unsafe_cells(row))
    cache = checkers.cells.cache
    plain = checkers.cells.plain
    for column, text in row.values.items():
        if text == CLEAR and column != "op":
            check.clears.append(column)
            continue
        if column in plain:  # free text: nothing to convert or check
            check.instance[column] = text
            continue
        if column not in cache:
            body = problems.NOT_IN_SCHEMA.message()
            check.found.append((problems.NOT_IN_SCHEMA.code, column, body))
            continue
        # Most cells repeat a value already seen in their column: look it up inline.
        value, found = cache[column].get(text) or checkers.cells.check(column, text)
        check.instance[column] = value
        check.found.extend((code, column, body) for code, body in found)
    for column in sorted(row.formulas):
        body = problems.FORMULA_NOT_COMPUTED.message()
        check.found.append((problems.FORMULA_NOT_COMPUTED.code, column, body))
    if check.clears:
        check.instance[CLEARED] = check.clears
    _check_operation(row, check, checkers, uploads, contents, from_result)
    return check


def _check_operation(
    row: Row,
    check: _RowCheck,
    checkers: _Checkers,
    uploads: Uploads,
    contents: Contents,
    from_result: bool,
) -> None:
    """What the row's operation needs, once its cells are converted."""
    op = check.instance.get("op", "")
    if not op:
        body = "choose create, update, patch, delete or upsert"
        check.found.append((problems.MISSING_VALUE.code, "op", body))
        return
    if not is_op(op):
        return  # the op cell's own problem says so
    check.op = _rerun_op(Op(op), check.instance, from_result)
    check.found.extend(checkers.rows.check(check.op, check.instance))
    check.found.extend(extent_problems(check.instance))
    upload = row.values.get("upload")
    if upload and upload != CLEAR:
        _, problem = uploads.check(upload)
        if problem:
            check.found.append(problem)
        else:  # what is inside the file, once its path is fine
            pinned = uploads.pinned(upload)
            check.found.extend(contents.check(pinned, upload, row.values.get("format")))


def _rerun_op(op: Op, instance: dict[str, object], from_result: bool) -> Op:
    """What a row of a result workbook does when run again.

    The run that wrote the result filled in the resource_id of what each row
    created; run again by id, a create or upsert would make the resource a
    second time. Such a row says what the resource should be, so it acts on
    that resource as an update (which finds "no change" when nothing was edited).
    """
    if from_result and op in MAKING_OPS and instance.get("resource_id"):
        return Op.UPDATE
    return op


def _unsafe_cells(row: Row) -> list[Found]:
    """Cells too long for a spreadsheet, or holding control characters the catalogue
    would store unseen (tabs and line breaks are free text's own)."""
    # One look at the whole row first: nearly every row is clean, and a line break
    # (allowed in a cell) between the cells cannot make a match.
    joined = "\n".join(row.values.values())
    if not UNSAFE_IN_CELL.search(joined) and (
        len(joined) <= CELL_LIMIT or max(map(len, row.values.values())) <= CELL_LIMIT
    ):
        return []
    found: list[Found] = []
    for column, text in row.values.items():
        if len(text) > CELL_LIMIT:
            body = problems.CELL_TOO_LONG.message(length=len(text), limit=CELL_LIMIT)
            found.append((problems.CELL_TOO_LONG.code, column, body))
        match = UNSAFE_IN_CELL.search(text)
        if match:
            body = problems.CONTROL_CHARACTER.message(
                char=escape(match.group()), position=match.start() + 1, length=len(text)
            )
            found.append((problems.CONTROL_CHARACTER.code, column, body))
    return found


def _tidy(found: list[Found]) -> list[Found]:
    """Drop duplicates, and the follow-on noise of a cell that has a worse problem."""
    if not found:
        return found
    found = list(dict.fromkeys(found))
    overriding = {column for code, column, _ in found if code in _OVERRIDING}
    return [p for p in found if p[0] in _OVERRIDING or p[1] is None or p[1] not in overriding]


def _problem(batch: Batch, number: int, code: str, column: str | None, body: str) -> Problem:
    warning = problems.REGISTRY[code].warning
    mark = " (warning)" if warning else ""
    if column is None:
        return Problem(code, f"Row {number}{mark}: {body}", number, None, warning)
    header = quote(batch.header_for(column))
    message = f"Row {number}, column '{header}'{mark}: {body}"
    if column not in batch.columns:
        message += " (the batch has no such column yet: add it)"
    return Problem(code, message, number, column, warning)


def _checked_row(row: Row, check: _RowCheck, uploads: Uploads) -> CheckedRow:
    """A valid row: its resource cells converted, and what it clears."""
    instance = check.instance
    upload = instance.get("upload")
    assert check.op is not None
    return CheckedRow(
        number=row.number,
        op=check.op,
        package=instance.get("package"),
        organization=instance.get("organization"),
        resource_id=instance.get("resource_id"),
        name=instance.get("name"),
        upload=uploads.pinned(upload) if upload else None,
        cells={k: v for k, v in instance.items() if k not in CONTROL_COLUMNS and k != CLEARED},
        clear=frozenset(check.clears),
    )


def resource_problems(schema: Schema, resource: dict[str, Any]) -> list[str]:
    """What a resource the catalogue already holds breaks of today's rules, in words
    (an old `CSV` format, a retired update cycle, a required field left empty)."""
    cells = resource_cells(schema, resource)
    checker = _checkers(schema).cells
    found = [f"{name} is empty" for name in schema.required_fields if name not in cells]
    for column, text in cells.items():
        if column in checker.cache:
            found.extend(f"{column}: {body}" for _, body in checker.check(column, text)[1])
    return found
