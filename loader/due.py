"""The due report: resources whose refresh is overdue by their update cycle.

A resource is due `resource_update_cycle` after it was last refreshed: its
`last_modified`, else when it was `created`, else the dataset's
`metadata_modified`. It is overdue from the day after its due date (dates in
UTC, as the catalogue keeps them). Cycles with no schedule (continual,
asNeeded, irregular, notPlanned, unknown) are never due.

The report is also a batch ready to fill: one patch row per overdue resource
(`resource_id`, `package`, `name`; `upload` left for the editor), with the
dates and the resource's DataStore state (active, loading, or when its last
load failed and why) beside it in columns the reader ignores.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader.client import CatalogueAPI
from loader.datastore import states
from loader.export import EXPORT_OP, find_packages, write_rows
from loader.model import DATASTORE_COLUMN, DUE_COLUMNS, STATE_COLUMNS
from loader.schema import Schema, load_schema

# How long each cycle lasts, as (days, calendar months). A month is a calendar
# month: due on the same day of the next month (or its last day, when shorter).
CYCLES: dict[str, tuple[int, int]] = {
    "daily": (1, 0),
    "nightly": (1, 0),
    "weekly": (7, 0),
    "biweekly": (14, 0),  # every two weeks, as the catalogue's help reads it
    "fortnightly": (14, 0),
    "monthly": (0, 1),
    "quarterly": (0, 3),
    "biannually": (0, 6),  # twice a year
    "annually": (0, 12),
}
UNSCHEDULED = ("continual", "asNeeded", "irregular", "notPlanned", "unknown")


@dataclass(frozen=True)
class Due:
    """One overdue resource."""

    package: str
    organization: str
    resource_id: str
    name: str
    cycle: str
    last_updated: dt.datetime  # UTC
    updated_from: str  # which timestamp: last_modified, created, or the dataset's
    due_date: dt.date
    days_overdue: int
    datastore: str = ""  # the resource's DataStore state in words ("" when not a table)


def due_report(
    catalogue: CatalogueAPI,
    *,
    organizations: Iterable[str] = (),
    packages: Iterable[str] = (),
    today: dt.date | None = None,
) -> list[Due]:
    """The overdue resources of the datasets named and of every dataset of the
    organizations named, most overdue first, each with its DataStore state. `today`
    defaults to today in UTC."""
    found = find_packages(catalogue, organizations, packages)
    late = overdue(found, today or dt.datetime.now(dt.UTC).date())
    resources = {r["id"]: r for p in found for r in p.get("resources") or []}
    words = states(catalogue, (resources[d.resource_id] for d in late))
    return [dataclasses.replace(d, datastore=words.get(d.resource_id, "")) for d in late]


def overdue(packages: Iterable[Mapping[str, Any]], today: dt.date) -> list[Due]:
    """The resources of these datasets that are overdue on `today`."""
    out: list[Due] = []
    for package in packages:
        organization = (package.get("organization") or {}).get("name") or ""
        for resource in package.get("resources") or []:
            cycle = str(resource.get("resource_update_cycle") or "")
            found = _last_update(resource, package)
            if cycle not in CYCLES or found is None:
                continue
            when, source = found
            due = _due_or_never(when.date(), cycle)
            if due is not None and today > due:
                out.append(
                    Due(
                        package=str(package["name"]),
                        organization=str(organization),
                        resource_id=str(resource["id"]),
                        name=str(resource.get("name") or ""),
                        cycle=cycle,
                        last_updated=when,
                        updated_from=source,
                        due_date=due,
                        days_overdue=(today - due).days,
                    )
                )
    return sorted(out, key=lambda d: (-d.days_overdue, d.package, d.name))


def due_date(last: dt.date, cycle: str) -> dt.date:
    """When a resource refreshed on `last` is next due (KeyError for a cycle with no schedule)."""
    days, months = CYCLES[cycle]
    if months:
        month = last.month - 1 + months
        year, month = last.year + month // 12, month % 12 + 1
        day = min(last.day, calendar.monthrange(year, month)[1])
        return dt.date(year, month, day)
    return last + dt.timedelta(days=days)


def _due_or_never(last: dt.date, cycle: str) -> dt.date | None:
    """The due date, or None when it falls past the calendar's end (a resource
    stamped 9999-12-31 is never due)."""
    try:
        return due_date(last, cycle)
    except (ValueError, OverflowError):
        return None


def _last_update(
    resource: Mapping[str, Any], package: Mapping[str, Any]
) -> tuple[dt.datetime, str] | None:
    """The resource's last refresh and where it was read from."""
    candidates = (
        (resource.get("last_modified"), "last_modified"),
        (resource.get("created"), "created"),
        (package.get("metadata_modified"), "dataset metadata_modified"),
    )
    for value, source in candidates:
        when = _timestamp(value)
        if when is not None:
            return when, source
    return None


def _timestamp(value: Any) -> dt.datetime | None:
    """A catalogue timestamp (ISO, UTC when it has no zone) as naive UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is not None:
        try:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31 west of UTC: past the calendar's end in UTC
            return dt.datetime.max
    return when


def write_due(path: Path | str, due: list[Due], schema: Schema | None = None) -> Path:
    """The report as a batch ready to fill: a patch row per overdue resource, the
    dates beside it (.xlsx in the template's layout, or .csv)."""
    rows = [
        {
            "op": str(EXPORT_OP),
            "package": d.package,
            "organization": d.organization,
            "resource_id": d.resource_id,
            "name": d.name,
            "last_updated": d.last_updated.isoformat(sep=" ", timespec="seconds"),
            "due_date": d.due_date.isoformat(),
            "days_overdue": d.days_overdue,
            DATASTORE_COLUMN: d.datastore,
        }
        for d in due
    ]
    extra = (*DUE_COLUMNS, *STATE_COLUMNS)
    return write_rows(Path(path), schema or load_schema(), rows, extra=extra)
