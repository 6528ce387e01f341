"""What a create, an update or a patch sends, and what that changes.

A create sends the row's fields (and the file's hash). An update replaces
the resource: fields left blank are emptied, and without a new file or URL
it keeps its file. A patch sends only the fields that differ from what the
resource holds. Either way the stored values are compared as the catalogue
keeps them (`loader.pipeline.diff`), choices are sent as it spells them, and
a file the resource already holds is not sent again (a refresh of
`last_modified` may stand for it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loader import problems
from loader.model import CheckedRow, Op
from loader.pinned import Altered, PinnedFile
from loader.pipeline.diff import changes, same
from loader.pipeline.files import FileBook, FileFacts
from loader.pipeline.operations import Action, Operation, RowFailure
from loader.pipeline.plan.lookup import Lookups
from loader.pipeline.plan.rules import check_whole
from loader.pipeline.plan.state import DatasetState, ResourceState
from loader.schema import Schema, patch_payload, payload


class Changes:
    """The operations of rows that make or change a resource."""

    def __init__(
        self,
        schema: Schema,
        lookups: Lookups,
        *,
        force_upload: bool,
        touch: bool,
        now: Callable[[], str],
    ):
        self.schema = schema
        self.lookups = lookups
        self.force_upload = force_upload
        self.touch = touch
        self.now = now
        self.files = FileBook()

    def create(self, row: CheckedRow, state: DatasetState, common: dict[str, Any]) -> Operation:
        fields = self.lookups.spell(payload(self.schema, row.cells))
        if row.upload is not None:
            facts = self._facts(row.upload)
            fields["hash"] = facts.stored_hash
            common["upload"] = facts.file  # sent only as the bytes just hashed
        name = fields.get("name") or row.name or ""
        if not fields.get("url") and row.upload is None:
            # an upsert that creates: without either the resource's link would be empty
            detail = f"dataset '{state.name}' has no resource named '{name}', so this upsert "
            detail += "would create one: give it a url, or a file to upload"
            raise RowFailure(problems.MISSING_VALUE, detail=detail)
        if row.op == Op.CREATE and any(r.name == name for r in state.resources):
            # a second resource of one name makes every later look-up by name ambiguous
            raise RowFailure(problems.NAME_TAKEN, package=state.name, name=name)
        state.resources.append(ResourceState(None, name, fields, created_by_row=row.number))
        return Operation(
            action=Action.CREATE, resource_id=None, resource_name=name, fields=fields, **common
        )

    def change(self, row: CheckedRow, target: ResourceState, common: dict[str, Any]) -> Operation:
        """An update or a patch (an upsert of an existing resource is an update)."""
        # the stored values, with choices in the spelling the catalogue lists (a
        # record may hold `epsg26710` where the list says `epsg26710,`): one value
        current = {**target.current, **self.lookups.spell(dict(target.current))}
        upload, new_hash = self._file_to_send(row.upload, current)
        common["upload"] = upload
        unchanged = row.upload is not None and upload is None
        if row.op == Op.PATCH:
            action = Action.PATCH
            fields = self.lookups.spell(patch_payload(self.schema, current, row.cells, row.clear))
            check_whole(self.schema, {**current, **fields})
            # A patch sends only what differs: a value the catalogue holds in
            # another form (CRLF line ends, spacing) is not rewritten by a patch
            # of some other field, as it would be when an exported row is edited.
            fields = {k: v for k, v in fields.items() if not same(current.get(k), v)}
            replaced: list[str] = []
        else:
            action = Action.UPDATE
            fields = self.lookups.spell(self._update_payload(upload, row, current))
            # an upload sets the URL, and the catalogue stamps last_modified itself;
            # a field the catalogue cannot empty keeps its value when left out
            managed = {"url", "last_modified"} if row.upload is not None else set()
            replaced = [f.name for f in self.schema.fields if f.name not in managed and f.clearable]
        if unchanged and self.touch and "last_modified" not in row.cells:
            fields["last_modified"] = self.now()
        ignored = {"url_type", "hash", "size"} | ({"url"} if upload is not None else set())
        found = changes(fields, current, ignored=ignored, replaced=replaced)
        if new_hash:
            fields["hash"] = new_hash
        if unchanged and all(c.field == "last_modified" for c in found):
            action = Action.TOUCH if found else Action.NOOP
            fields = {"last_modified": fields["last_modified"]} if found else {}
        elif not found and upload is None:
            action = Action.NOOP
        if action == Action.NOOP:
            return Operation(
                action=action, resource_name=target.name, file_unchanged=unchanged, **common
            )
        target.current = {**current, **fields}
        target.name = target.current.get("name") or target.name
        return Operation(
            action=action,
            resource_name=target.name,
            fields=fields,
            changes=tuple(found),
            file_unchanged=unchanged,
            **common,
        )

    def _facts(self, file: PinnedFile) -> FileFacts:
        try:
            return self.files.facts(file)
        except OSError as error:  # gone or locked since the batch was checked
            reason = error.strerror or str(error)
            raise RowFailure(problems.UPLOAD_UNREADABLE, text=str(file), reason=reason) from None
        except Altered as altered:  # replaced or rewritten since the batch was checked
            raise _altered(altered) from None

    def _file_to_send(
        self, upload: PinnedFile | None, current: dict[str, Any]
    ) -> tuple[PinnedFile | None, str | None]:
        """The file to send, pinned with its hash (None when the resource already holds
        it), and that hash."""
        if upload is None:
            return None, None
        facts = self._facts(upload)
        try:  # reads its MD5 when a DataStore loader wrote one over the hash
            held = facts.matches(current)
        except Altered as altered:
            raise _altered(altered) from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise RowFailure(problems.UPLOAD_UNREADABLE, text=str(upload), reason=reason) from None
        if held and not self.force_upload:
            return None, None
        return facts.file, facts.stored_hash

    def _update_payload(
        self, upload: PinnedFile | None, row: CheckedRow, current: dict[str, Any]
    ) -> dict[str, Any]:
        """An update replaces the resource; without a new file or URL it keeps its file."""
        fields = payload(self.schema, row.cells)
        if upload is None and "url" not in fields and current.get("url"):
            # without this the catalogue points an uploaded file's URL at nothing,
            # and forgets what it knows of the file
            kept = ["url", "url_type", "hash", "size"]
            if row.upload is not None:  # a refresh whose file is unchanged
                kept.append("last_modified")
            for name in kept:
                if name not in fields and current.get(name) not in (None, ""):
                    fields[name] = current[name]
        return fields


def _altered(altered: Altered) -> RowFailure:
    """A row whose file was replaced or rewritten after it was checked."""
    problem = problems.FILE_REPLACED if altered.replaced else problems.FILE_CHANGED
    return RowFailure(problem, detail=altered.message)
