"""Unchanged files whose last DataStore load failed: loaded again, not skipped silently.

A row naming a file the resource already holds sends nothing ("no change
(file unchanged)"). But if the DataStore load of that file failed (the
catalogue's worker was down, its database refused, the download broke), the
data's users still find no rows, or an earlier file's; so such a row
resubmits the load instead, and the run follows it like any other.

Whether a load failed takes one status read per resource, so only the
resources whose last load may have failed are asked, READERS at a time: a
format the DataStore takes (or a table already there), and a `hash` that is
not a bare MD5. The DataStore loader writes the file's MD5 into `hash` once
it has loaded the file, so an MD5 there (which the planner already matched
with the file) says the last load of this very file worked. A load still
queued or under way is not submitted again (that would lengthen a stuck
queue): the run follows it instead.
"""

from __future__ import annotations

import dataclasses

from loader.client import CatalogueAPI
from loader.datastore import may_have_failed, read_statuses
from loader.pipeline.operations import Action, Operation


def with_reloads(operations: list[Operation], catalogue: CatalogueAPI) -> list[Operation]:
    """The operations, with each unchanged file whose last load failed made a reload
    (and each whose load is under way carrying that load, for the run to follow)."""
    asked = {
        op.row: op.before
        for op in operations
        if op.action == Action.NOOP
        and op.file_unchanged
        and op.before
        and may_have_failed(op.before)
    }
    if not asked:
        return operations
    statuses = read_statuses(catalogue, asked.values())
    revised = []
    for op in operations:
        status = statuses.get(str(op.resource_id)) if op.row in asked else None
        if status is None or (status.finished and not status.failed):
            revised.append(op)
        elif status.failed:
            revised.append(dataclasses.replace(op, action=Action.RELOAD, last_load=status))
        else:
            revised.append(dataclasses.replace(op, last_load=status))
    return revised
