"""The catalogue's DataStore in an editor's words.

BCDC loads uploaded tables (CSV, TSV, Excel) into CKAN's DataStore, which
feeds a record's data preview and the `datastore_search` API. Whether that
load worked is what the data's users see, so the run, `export` and `due`
say it: here are the formats a loader takes, the words for each state of a
load, the loader's reasons put into words an editor can act on (its own text
stays in the row's error), and the statuses of many resources read at once.

The formats: ckanext-xloader and DataPusher both load csv, tsv, xls and xlsx
by default (and ods, which BCDC's format list does not have); a catalogue
may narrow its list, which the client cannot read, so a file that is not
loaded after all is found by following it (see pipeline/follow.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loader.client import CatalogueAPI, CatalogueError, LoadStatus
from loader.text import escape

LOADABLE_FORMATS = frozenset({"csv", "tsv", "xls", "xlsx"})
# What the DataStore loader writes into a resource once it has loaded its file (through
# the API, as the site user, so the resource's and its dataset's metadata_modified move):
# the table's state and its job's details; besides these, the file's MD5 in `hash`.
LOADER_BOOKKEEPING = frozenset(
    {
        "datastore_active", "datastore_contains_all_records_of_source_file", "ckan_url",
        "ignore_hash", "original_url", "queue_name", "resource_id", "set_url_type",
        "task_created", "metadata_modified",
    }
)  # fmt: skip
_MD5 = re.compile(r"[0-9a-f]{32}")
READERS = 4  # status reads at once, for export and due (one call per resource)
REASON_LIMIT = 300  # a reason the loader gave that is not translated is cut here


def loadable(resource: Mapping[str, Any]) -> bool:
    """Whether the resource's format is one the catalogue's loader takes."""
    return str(resource.get("format") or "").strip().lower() in LOADABLE_FORMATS


def in_datastore(resource: Mapping[str, Any]) -> bool:
    """Whether the DataStore holds a table for the resource (from an earlier load)."""
    return resource.get("datastore_active") in (True, "true", "True")


def may_be_loaded(resource: Mapping[str, Any]) -> bool:
    """Whether the resource could have a DataStore load worth asking about."""
    return loadable(resource) or in_datastore(resource)


def may_have_failed(resource: Mapping[str, Any]) -> bool:
    """Whether the resource's last DataStore load may have failed, so that only its
    status can tell. The loader writes the file's MD5 into `hash` once a load of it
    worked (the loader's own uploads hold `sha256:...` until then), so a bare MD5
    there says the last load of the file the resource holds worked."""
    stored = str(resource.get("hash") or "")
    return may_be_loaded(resource) and (not stored or stored.startswith("sha256:"))


def loader_wrote(field: str, before: Any, after: Any) -> bool:
    """Whether a change of `field` from `before` to `after` is the DataStore loader's
    own bookkeeping after a load, rather than anyone's edit: one of its fields, or a
    `hash` that went from the loader's own `sha256:...` (or nothing) to an MD5."""
    if field == "hash":
        was = str(before or "")
        return (not was or was.startswith("sha256:")) and bool(_MD5.fullmatch(str(after or "")))
    return field in LOADER_BOOKKEEPING


# -- the DataStore column's words ---------------------------------------------------


def loaded_words(total: int | None) -> str:
    """`loaded 12,345 rows` (the DataStore's own count)."""
    if total is None:
        return "loaded"
    return f"loaded {total:,} row" + ("" if total == 1 else "s")


def failed_words(reason: str) -> str:
    """`load failed: ...`, the loader's reason in an editor's words."""
    return f"load failed: {reason_in_words(reason)}"


def loading_words(seconds: float, state: str = "") -> str:
    """`still loading after 120 s` (queued, when it had not started)."""
    queued = " (queued, not started)" if state in ("pending", "submitting") else ""
    return f"still loading after {seconds:.0f} s{queued}"


def not_loaded_words(resource: Mapping[str, Any]) -> str:
    """`not loaded (format pdf)`: a format the loader does not take; the DataStore may
    still hold an earlier file's rows."""
    words = f"not loaded (format {escape(str(resource.get('format') or 'none'))})"
    if in_datastore(resource):
        words += "; the DataStore still holds the rows of an earlier file"
    return words


NOT_FOLLOWED = "not followed: the catalogue has no DataStore loader"
NO_LOAD_STARTED = "load failed: the catalogue started no DataStore load for this file"


# -- a loader's reasons, in words --------------------------------------------------

_REASONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"No such file or directory: '[^']*output_[^']*'"),
        "the file is empty: there is nothing to load",
    ),
    (
        re.compile(r"The file could not be read as a table"),
        "the file could not be read as a table; it is probably not really in the format "
        "its name or its format cell says",
    ),
    (
        re.compile(
            r"Row (?P<row>\d+) has more values than the (?P<columns>\d+) column\(s\) in the "
            r"header\. The extra value is: (?P<extra>.*?)\. This usually"
        ),
        "row {row} has more values than the {columns} columns of the heading row (the "
        "extra value is {extra}); a value holding a comma or a double quote must be "
        "wrapped in double quotes",
    ),
    (
        re.compile(r"Duplicate column names are not supported"),
        "two columns have the same heading; give each column a name of its own",
    ),
    (
        re.compile(r"is not a valid field name|unterminated quoted identifier"),
        "the heading row cannot be used as the DataStore's column names; is the file "
        "really the format it says?",
    ),
    (
        re.compile(r"No entries found - nothing to load"),
        "the loader found nothing to load in the file; is it really the format it says?",
    ),
    (
        re.compile(r"Data too large to load into Datastore: (?P<size>\d+) bytes > max"),
        "the file is larger than the catalogue loads into the DataStore ({size} bytes)",
    ),
    (
        re.compile(r"timed out after (?P<seconds>\d+) ?s", re.IGNORECASE),
        "the load took longer than the catalogue allows ({seconds} s)",
    ),
    (
        re.compile(r"Could not connect to DataPusher|cannot connect to datapusher"),
        "the catalogue could not reach its DataStore loader; ask its administrators",
    ),
    (
        re.compile(r"bad HTTP response|HTTPS?ConnectionPool|Connection ?refused|status=\d+"),
        "the catalogue's loader could not download the file from the catalogue; "
        "resubmitting the load may work",
    ),
]


def reason_in_words(reason: str) -> str:
    """What the loader's reason means for the editor. Its own words, when they mean
    nothing to an editor (a temporary file's path, a Python repr), are replaced;
    otherwise they are kept, cut when long."""
    for pattern, words in _REASONS:
        match = pattern.search(reason)
        if match:
            return words.format(**{k: escape(v) for k, v in match.groupdict().items()})
    if not reason.strip():
        return "the loader gave no reason"
    text = escape(" ".join(reason.split()))
    return text if len(text) <= REASON_LIMIT else text[:REASON_LIMIT] + "..."


# -- the state of a resource's DataStore table, for export and due ---------------------


def when(stamp: str) -> str:
    """A catalogue timestamp as an editor reads it: `2026-01-02 10:04 UTC`."""
    return f"{stamp[:16].replace('T', ' ')} UTC" if len(stamp) >= 16 else stamp


def state_words(resource: Mapping[str, Any], status: LoadStatus | None) -> str:
    """The resource's DataStore state in words: active, loading, or the last load
    failed (when, and why); "" when it is not a table the DataStore could hold.
    `status` is None when no load was ever queued or its status could not be read."""
    active = in_datastore(resource)
    if status is None:
        if active:
            return "active"
        return "not in the DataStore" if loadable(resource) else ""
    if status.failed:
        words = f"last load failed {when(status.updated)}: {reason_in_words(status.error)}"
        return words + ("; the DataStore holds an earlier load" if active else "")
    if status.finished:
        return f"active, last loaded {when(status.updated)}" if active else "not in the DataStore"
    return f"loading, queued {when(status.submitted)}"


def states(catalogue: CatalogueAPI, resources: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The DataStore state of each resource in words, by id (see `state_words`): a
    status is read (READERS at a time) only where the last load may have failed."""
    resources = list(resources)
    statuses = read_statuses(catalogue, [r for r in resources if may_have_failed(r)])
    return {str(r["id"]): state_words(r, statuses.get(str(r["id"]))) for r in resources}


def read_statuses(
    catalogue: CatalogueAPI, resources: Iterable[Mapping[str, Any]]
) -> dict[str, LoadStatus | None]:
    """The last load of each resource that may be in the DataStore, by id, read
    READERS at a time (one call each). A status that cannot be read (a token that
    may not see loads) is None, like one never queued."""
    wanted = [str(r["id"]) for r in resources if may_be_loaded(r)]
    if not wanted or catalogue.datastore_loader() is None:
        return {}

    def read(resource_id: str) -> LoadStatus | None:
        try:
            return catalogue.load_status(resource_id)
        except CatalogueError:
            return None

    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="load-status") as pool:
        return dict(zip(wanted, pool.map(read, wanted), strict=True))
