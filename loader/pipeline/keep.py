"""Keep a file before a row replaces it, so that undo can put it back.

The catalogue holds one file per resource: an upload overwrites it, and a
deleted resource's file cannot be reached again. With `run --keep-replaced
DIR`, each uploaded file a row is about to replace (a new upload, a link in
its place, or the resource deleted) is downloaded first, to
`DIR/<resource id>/<n>/<its file name>` (the name kept, since an upload takes
its URL from it), and the path is written in the row's `before` snapshot in
the journal, where `bcdc-loader undo` finds it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import unquote, urlparse

from loader.client import CatalogueAPI
from loader.pipeline.operations import Action, Operation

# the key, in a row's `before` snapshot, of the file kept before the row replaced it
KEPT_FILE = "_kept_file"


def replaces_file(op: Operation) -> bool:
    """Whether the operation replaces (or deletes) a file uploaded before the run."""
    before = op.before
    if before is None or before.get("url_type") != "upload" or KEPT_FILE in before:
        return False
    if op.action == Action.DELETE or op.upload is not None:
        return True
    return "url" in op.fields and op.fields["url"] != before.get("url")


def keep_file(op: Operation, catalogue: CatalogueAPI, folder: Path) -> Operation:
    """Download the file `op` replaces into `folder`; the operation, its snapshot
    naming the kept file. Raises CatalogueError or OSError when it cannot be kept."""
    assert op.before is not None and op.resource_id is not None
    url = str(op.before.get("url") or "")
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1]) or "file"
    target = _free_folder(folder / op.resource_id) / name
    catalogue.download(url, target)
    return dataclasses.replace(op, before={**op.before, KEPT_FILE: str(target.resolve())})


def _free_folder(parent: Path) -> Path:
    """A new numbered folder under `parent` (1, 2, ...): a file kept twice keeps both."""
    parent.mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        try:
            (parent / str(number)).mkdir()
            return parent / str(number)
        except FileExistsError:
            number += 1
