"""Every problem the loader reports, stated once: a registry of problem types.

Each type has a stable `code` (for scripts, the result workbook and the
journal), a `title`, a `description` for the docs, and a message `template`
filled in where the problem is found. The stage says where that is: reading
the file, validating rows, planning against the catalogue, or running.

The code table in docs/batch-format.md is generated from this registry
(`docs_table`), and a test fails when the two differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loader.text import escape, quote


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem."""

    code: str
    title: str
    description: str
    template: str
    stage: str
    # reported, but does not make the row invalid (files whose content may mislead)
    warning: bool = False

    def message(self, **values: Any) -> str:
        """The message for one occurrence, with the template's blanks filled in.

        Text is escaped (no control character reaches a terminal raw), and the
        values a batch or the catalogue supplies are cut when long.
        """
        safe = {
            k: (quote(v) if k in _QUOTED else escape(v)) if isinstance(v, str) else v
            for k, v in values.items()
        }
        return self.template.format(**safe)


# Blanks filled with a cell's text or a name from the batch or catalogue: cut when long.
_QUOTED = frozenset({"value", "text", "name", "package", "organization", "resource_id", "owner"})


# Where a problem is found, in the order a batch meets them (undo: a later command).
STAGES = ("read", "validate", "plan", "run", "undo")
REGISTRY: dict[str, ProblemType] = {}


def _register(
    code: str, title: str, description: str, template: str, stage: str, warning: bool = False
) -> ProblemType:
    if code in REGISTRY:
        raise ValueError(f"problem code {code} registered twice")
    if stage not in STAGES:
        raise ValueError(f"problem code {code}: unknown stage {stage}")
    problem = ProblemType(code, title, description, template, stage, warning)
    REGISTRY[code] = problem
    return problem


# -- reading the file: the batch is refused as a whole -------------------------------

UNREADABLE_FILE = _register(
    "unreadable-file",
    "Unreadable file",
    "the batch file does not exist, is not a workbook or CSV file, or cannot be read",
    "{detail}",
    "read",
)
MISSING_SHEET = _register(
    "missing-sheet",
    "Missing sheet",
    "the workbook has no sheet of the name asked for, or no sheets at all",
    "{detail}",
    "read",
)
EMPTY_BATCH = _register(
    "empty-batch",
    "Empty batch",
    "the sheet or file has no heading row, or no rows under it",
    "The {where} {detail}.",
    "read",
)
UNKNOWN_COLUMN = _register(
    "unknown-column",
    "Unknown column",
    "a heading is not a column the loader knows (a close match is suggested)",
    "Column {letter}, '{text}', is not a column the loader knows{hint}",
    "read",
)
DUPLICATE_COLUMN = _register(
    "duplicate-column",
    "Duplicate column",
    "two headings name the same column",
    "Column {letter}, '{text}', is the same column as {other}; keep only one of them.",
    "read",
)
UNNAMED_COLUMN = _register(
    "unnamed-column",
    "Unnamed column",
    "a column holds values but has no heading",
    "Column {letter} has no heading but holds values (row {rows}); give it a heading or clear it.",
    "read",
)
MISSING_COLUMN = _register(
    "missing-column",
    "Missing column",
    "a column the batch needs is missing: `op` always; `package` or `resource_id`; "
    "and every required field when there are create, update or upsert rows",
    "{detail}",
    "read",
)
TOO_LARGE = _register(
    "too-large",
    "Too large",
    "the batch file, or the workbook once unpacked, is larger than any real batch (a guard "
    "against files built to exhaust memory; the limits are under Reading the file)",
    "{detail}",
    "read",
)
MIXED_ENCODING = _register(
    "mixed-encoding",
    "Mixed text encodings",
    "a CSV file holds UTF-8 text and text in another encoding (such as Windows-1252), so "
    "one of them would be misread",
    "{file} mixes two text encodings: line {utf8_line} holds UTF-8 text ({utf8_sample}), "
    "but line {line} holds bytes that are not UTF-8 ({bytes} in {sample}). Open it in a "
    "text editor, fix line {line} (or every line that shows odd characters), and save it "
    "as UTF-8 ('CSV UTF-8' in Excel)",
    "read",
)
HIDDEN_CELLS = _register(
    "hidden-cells",
    "Hidden cells",
    "the sheet read is hidden, or rows or columns holding values are hidden, so the batch "
    "would load what nobody sees in the spreadsheet",
    "{detail}",
    "read",
)
MERGED_CELLS = _register(
    "merged-cells",
    "Merged cells",
    "cells under the heading row are merged; a merged cell holds its value only in its "
    "first row and column, so the others would read as blank",
    "Cells {range} are merged (rows {rows}, column {columns}); unmerge them and give "
    "each row its own value",
    "read",
)

# -- validating rows: offline, every problem at once ----------------------------------

UNKNOWN_OP = _register(
    "unknown-op",
    "Unknown operation",
    "`op` is not one of create, update, patch, delete, upsert",
    "'{value}' is not an operation; use create, update, patch, delete or upsert{hint}",
    "validate",
)
MISSING_VALUE = _register(
    "missing-value",
    "Missing value",
    "a required cell is blank",
    "{detail}",
    "validate",
)
FORMULA_NOT_COMPUTED = _register(
    "formula-not-computed",
    "Formula never computed",
    "a cell holds a formula whose value was never computed (the file was written by a "
    "program, not saved by a spreadsheet program), so its value is unknown",
    "this cell holds a formula whose value was never computed (the file was written by a "
    "program); open the file in Excel or LibreOffice and save it, or type the value itself",
    "validate",
)
INVALID_CHOICE = _register(
    "invalid-choice",
    "Invalid choice",
    "a value is not one of the field's allowed values",
    "'{value}' is not one of the allowed values; {hint}",
    "validate",
)
NOT_A_NUMBER = _register(
    "not-a-number",
    "Not a number",
    "a number field holds something else",
    "'{value}' is not {kind}",
    "validate",
)
OUT_OF_RANGE = _register(
    "out-of-range",
    "Out of range",
    "a number is outside its range (latitudes, longitudes, zoom)",
    "{value} is out of range: it must be {range}",
    "validate",
)
INVALID_DATE = _register(
    "invalid-date",
    "Invalid date",
    "a date is not `YYYY-MM-DD` (or a date-time not `YYYY-MM-DDTHH:MM:SS`)",
    "'{value}' is not {kind}",
    "validate",
)
INVALID_URL = _register(
    "invalid-url",
    "Invalid URL",
    "a URL does not start with `http://`, `https://` or `ftp://`",
    "'{value}' is not a web address starting with https:// or http://",
    "validate",
)
INVALID_JSON = _register(
    "invalid-json",
    "Invalid JSON",
    "`json_table_schema` is not a JSON object",
    "this is not a JSON object{detail}",
    "validate",
)
INVALID_VALUE = _register(
    "invalid-value",
    "Invalid value",
    "a value breaks a rule of its field that no other code covers",
    "{detail}",
    "validate",
)
CONDITIONAL_REQUIRED = _register(
    "conditional-required",
    "Needed by another field",
    "a field the resource's kind needs is blank",
    "a value is needed when {condition}",
    "validate",
)
NOT_APPLICABLE = _register(
    "not-applicable",
    "Not applicable",
    "a field the resource's kind does not take is filled",
    "only taken when {condition}; leave it blank",
    "validate",
)
READ_ONLY = _register(
    "read-only",
    "Read-only field",
    "a field the catalogue fills itself is filled",
    "the catalogue fills this field itself; {detail}",
    "validate",
)
CLEAR_NOT_ALLOWED = _register(
    "clear-not-allowed",
    "Cannot be cleared",
    "`<clear>` on a row that is not a patch, or on a required field",
    "{detail}",
    "validate",
)
MISSING_TARGET = _register(
    "missing-target",
    "Missing target",
    "the row does not say which resource or dataset it acts on",
    "{detail}",
    "validate",
)
UNEXPECTED_VALUE = _register(
    "unexpected-value",
    "Unexpected value",
    "a cell this operation does not take is filled (e.g. `resource_id` on create)",
    "{detail}",
    "validate",
)
NO_CHANGE = _register(
    "no-change",
    "Nothing to change",
    "a patch row changes nothing",
    "a patch row must change at least one field (or <clear> one)",
    "validate",
)
INCONSISTENT_EXTENT = _register(
    "inconsistent-extent",
    "Inconsistent extent",
    "an extent ends before it begins",
    "{detail}",
    "validate",
)
CONFLICTING_TARGET = _register(
    "conflicting-target",
    "Conflicting rows",
    "two rows act on one resource in colliding ways",
    "row {other} deletes {target} earlier in the batch, so this {op} would find nothing",
    "validate",
)
DUPLICATE_CREATE = _register(
    "duplicate-create",
    "Duplicate create",
    "two rows create resources of one name in one dataset",
    "row {other} already creates {target}; a dataset should hold one resource of a name",
    "validate",
)
DUPLICATE_REORDER = _register(
    "duplicate-reorder",
    "Dataset reordered twice",
    "two reorder rows name one dataset; one says its order",
    "row {other} already puts the resources of dataset '{package}' in order; keep one "
    "reorder row a dataset",
    "validate",
)
UPLOAD_MISSING = _register(
    "upload-missing",
    "File missing",
    "the file to upload does not exist",
    "there is no file '{text}' (looked for {path})",
    "validate",
)
UPLOAD_NOT_FILE = _register(
    "upload-not-file",
    "Not a file",
    "the path to upload is a folder or a special file (a device, a pipe), not a file",
    "'{text}' is a folder or a special file, not a file",
    "validate",
)
UPLOAD_TOO_LARGE = _register(
    "upload-too-large",
    "File too large",
    "the file to upload is larger than the catalogue takes (`--max-file-size`; 150 MB for "
    "prod and test)",
    "'{text}' is {size}, over the {limit} the catalogue takes; publish it elsewhere and "
    "give its URL, or split it",
    "validate",
)
UPLOAD_AND_URL = _register(
    "upload-and-url",
    "File and URL",
    "a row gives both `upload` and `url`",
    "give either a file to upload or a URL, not both",
    "validate",
)
CONTROL_CHARACTER = _register(
    "control-character",
    "Control character",
    "a cell holds a control character (a NUL, an escape, ...) or an invisible mark that "
    "reorders text; the catalogue would store it unseen",
    "this cell holds an invisible control character ({char}, character {position} of "
    "{length}); retype the value without it",
    "validate",
)
CELL_TOO_LONG = _register(
    "cell-too-long",
    "Cell too long",
    "a cell holds more than 32,767 characters, more than a spreadsheet cell can hold",
    "this cell holds {length:,} characters; a spreadsheet cell holds at most {limit:,}",
    "validate",
)
UPLOAD_OUTSIDE = _register(
    "upload-outside",
    "File outside the batch's folder",
    "the file to upload is outside the folder holding the batch and the folders named "
    "with `--files-from`",
    "'{text}' is {path}, outside {folders}; a batch may only upload files from its own "
    "folder: move the file there, or name its folder with --files-from",
    "validate",
)
UPLOAD_WINDOWS_PATH = _register(
    "upload-windows-path",
    "Path on another computer",
    "the file to upload is given by a Windows drive letter (`C:\\...`) or network path "
    "(`\\\\server\\...`), which a computer that is not Windows cannot reach",
    "'{text}' is a path on a Windows computer ({where}); this computer runs another system "
    "and cannot reach it. Write the file's path from the batch's folder instead{hint}",
    "validate",
)
UPLOAD_UNREADABLE = _register(
    "upload-unreadable",
    "File unreadable",
    "the file to upload cannot be read: no permission, or a symbolic link that loops",
    "'{text}' cannot be read: {reason}",
    "validate",
)
NOT_IN_SCHEMA = _register(
    "not-in-schema",
    "Not in the schema",
    "a column the file was read with is not a field of the schema the rows are checked against",
    "the schema in use has no such field",
    "validate",
)

# -- looking inside files to upload (loader/pipeline/validate/contents.py) ------------

UPLOAD_EMPTY = _register(
    "upload-empty",
    "File empty",
    "the file to upload holds nothing: no bytes, only blank lines, or a workbook whose "
    "first sheet is empty",
    "'{text}' is empty ({detail}); there is nothing to load or to publish",
    "validate",
)
UPLOAD_ENCODING = _register(
    "upload-encoding",
    "Text does not decode",
    "a text file to upload mixes UTF-8 with another encoding, holds bytes that are no "
    "character in UTF-8 or Windows-1252, or holds a NUL: the DataStore load would fail "
    "or garble it",
    "'{text}': {detail}",
    "validate",
)
UPLOAD_OTHER_ENCODING = _register(
    "upload-other-encoding",
    "Not UTF-8",
    "a text file to upload is Windows-1252 or UTF-16, not UTF-8: the DataStore "
    "reads it, but whoever downloads the file and reads it as UTF-8 sees garbled letters",
    "'{text}' is saved as {encoding} text, not UTF-8{where}. The DataStore reads it, but "
    "people and programs that expect UTF-8 will see garbled letters in the file; save it "
    "as UTF-8 ('CSV UTF-8' in Excel)",
    "validate",
    warning=True,
)
UPLOAD_BLANK_HEADING = _register(
    "upload-blank-heading",
    "Column without a name",
    "a column of a table to upload (CSV, TSV, Excel) has no name in the heading row: the "
    "DataStore load fails",
    "'{text}': {columns} of the heading row ({where}) {have} no name; the DataStore needs "
    "a name for every column: name it, or delete the column",
    "validate",
)
UPLOAD_DUPLICATE_HEADING = _register(
    "upload-duplicate-heading",
    "Column name repeated",
    "two columns of a table to upload have the same name (compared as the DataStore keeps "
    "them: trimmed, 63 characters at most): the DataStore load fails",
    "'{text}': {detail}; the DataStore needs a different name for each column: rename them",
    "validate",
)
UPLOAD_NO_HEADING = _register(
    "upload-no-heading",
    "No heading row?",
    "the heading row of a table to upload holds only numbers, so it may be data: "
    "the DataStore takes it for the column names",
    "'{text}': the heading row ({where}) holds only numbers ({sample}); the DataStore "
    "takes it for the column names. If it is data, add a heading row above it",
    "validate",
    warning=True,
)
UPLOAD_NO_ROWS = _register(
    "upload-no-rows",
    "Heading row only",
    "a table to upload has a heading row but no rows under it: the DataStore loads an empty table",
    "'{text}' has a heading row ({where}) but no rows under it; the data preview would "
    "show an empty table",
    "validate",
    warning=True,
)
UPLOAD_RAGGED_ROWS = _register(
    "upload-ragged-rows",
    "Rows do not fit the heading row",
    "rows of a table to upload have more or fewer cells than the heading row has columns "
    "(or a quoted cell never ends): the DataStore load fails",
    "'{text}': {detail}",
    "validate",
)
UPLOAD_WRONG_FORMAT = _register(
    "upload-wrong-format",
    "Format does not match the file",
    "the file to upload is not what the row's `format` says (judged by its content, not "
    "its name): an Excel workbook declared csv, a zip declared geojson, a PDF declared csv",
    "'{text}' is {kind}, but {said}: {fix}",
    "validate",
)
UPLOAD_INVALID_JSON = _register(
    "upload-invalid-json",
    "JSON does not parse",
    "a JSON or GeoJSON file to upload is not valid JSON (the place is named)",
    "'{text}' is not valid JSON: {where}: {reason}",
    "validate",
)

# -- planning: names resolved against the catalogue ---------------------------------

NOT_FOUND = _register(
    "not-found",
    "Not found",
    "a dataset, resource or organization the row names is not in the catalogue",
    "{what} '{name}' was not found",
    "plan",
)
NOT_VISIBLE = _register(
    "not-visible",
    "Not visible",
    "the token may not see a dataset, resource or organization the row names",
    "you may not see {what} '{name}'",
    "plan",
)
LOOK_UP_FAILED = _register(
    "look-up-failed",
    "Look-up failed",
    "the catalogue could not answer a look-up the row needs",
    "{what} '{name}': {detail}",
    "plan",
)
WRONG_ORGANIZATION = _register(
    "wrong-organization",
    "Wrong organization",
    "the dataset belongs to another organization than the row's `organization`",
    "dataset '{package}' belongs to organization '{owner}', not '{organization}'",
    "plan",
)
NOT_IN_DATASET = _register(
    "not-in-dataset",
    "Resource not in dataset",
    "the `resource_id` given is not a resource of the dataset given",
    "resource id '{resource_id}' is not in dataset '{package}'",
    "plan",
)
AMBIGUOUS_NAME = _register(
    "ambiguous-name",
    "Ambiguous name",
    "several resources of the dataset have the name the row gives",
    "{count} resources in dataset '{package}' are named '{name}' ({ids}); "
    "give resource_id to say which one",
    "plan",
)
NO_SUCH_RESOURCE = _register(
    "no-such-resource",
    "No such resource",
    "no resource of the dataset has the name the row gives",
    "no resource named '{name}' in dataset '{package}'",
    "plan",
)
NAME_TAKEN = _register(
    "name-taken",
    "Name taken",
    "a create names a resource the dataset already has (use upsert to refresh it)",
    "dataset '{package}' already has a resource named '{name}'; use upsert or update to "
    "change it, or give the new one another name",
    "plan",
)
INCOMPLETE_AFTER_PATCH = _register(
    "incomplete-after-patch",
    "Incomplete after patch",
    "the resource as the patch would leave it breaks the conditional rules",
    "after this patch the resource ({kind}) would have no {fields}; give {them} in the same row",
    "plan",
)
MAY_NOT_WRITE = _register(
    "may-not-write",
    "May not write",
    "the token's user may not change the dataset (is not an editor or admin of its "
    "organization); found when planning, so the row is never sent",
    "would {action} {what}, but your token ({user}) may not write to dataset "
    "'{package}' (organization '{organization}')",
    "plan",
)
MAKER_NOT_RUN = _register(
    "maker-not-run",
    "Depends on a row that does not run",
    "the row acts on a resource an earlier row creates, and that row does not run",
    "row {row}, which creates this resource, does not run",
    "plan",
)

# -- running: the catalogue's answers ------------------------------------------------

REFUSED = _register(
    "refused",
    "Refused by the catalogue",
    "the catalogue's own validation refused the values (the fields it names are marked)",
    "{detail}",
    "run",
)
NOT_AUTHORIZED = _register(
    "not-authorized",
    "Not authorized",
    "the token's user may not make this change",
    "{detail}",
    "run",
)
NO_ANSWER = _register(
    "no-answer",
    "No answer",
    "the connection failed or dropped, or the catalogue (or its gateway) failed while "
    "handling the request (HTTP 500, 502, 504); after a request was sent, the catalogue "
    "may or may not have saved it",
    "{detail}",
    "run",
)
CATALOGUE_ERROR = _register(
    "catalogue-error",
    "Catalogue error",
    "the catalogue answered with an error that is none of the above",
    "{detail}",
    "run",
)
FILE_CHANGED = _register(
    "file-changed",
    "File changed",
    "the file to upload changed after it was checked, or while it was sent (its size, "
    "time or content are not what was checked): nothing of it was saved, and its row "
    "can be run again to send it as it is now",
    "{detail}",
    "run",
)
FILE_REPLACED = _register(
    "file-replaced",
    "File replaced",
    "the file at an upload's path is no longer the file that was checked (another file, "
    "or a folder on its way swapped for a link): it is not read, and nothing of it is sent",
    "{detail}",
    "run",
)
PARTLY_SAVED = _register(
    "partly-saved",
    "Partly saved",
    "an upload was saved with its file and text fields, but its lists, groups or "
    "last_modified were refused",
    "the file and text fields were saved to resource {resource_id}, but not the rest: {detail}",
    "run",
)
INTERRUPTED = _register(
    "interrupted",
    "Interrupted",
    "the run was stopped at once while this row's request was under way",
    "interrupted while the request was under way: the catalogue may or may not have saved "
    "it; check the dataset before running this row again",
    "run",
)
DATASET_CHANGED = _register(
    "dataset-changed",
    "Dataset changed meanwhile",
    "someone changed the dataset after the run read it, so rows sent together were not "
    "sent (nothing of theirs was saved); run the batch again",
    "dataset '{package}' changed after this run read it (its metadata_modified is no longer "
    "{seen}); nothing of this row was sent, so that the other change is not overwritten: "
    "run the batch again",
    "run",
)
BLOCKED_BY_INVALID = _register(
    "blocked-by-invalid-resource",
    "Refused for another resource",
    "the dataset holds another resource that breaks today's rules, and the catalogue "
    "(CKAN 2.10, as production runs) refuses every resource write to such a dataset",
    "dataset '{package}' holds a resource that breaks today's rules, and this catalogue "
    "refuses every write to such a dataset until it is fixed: {resources}. Fix that resource "
    "(in the catalogue's form, or with a patch row before this one), then run again",
    "run",
)
MAKER_FAILED = _register(
    "maker-failed",
    "Depends on a failed row",
    "the row acts on a resource an earlier row was to create, and that row failed",
    "row {row}, which creates this resource, did not succeed",
    "run",
)
NOT_REACHED = _register(
    "not-reached",
    "Not reached",
    "the row did not run: the run was stopped, could not start, or the batch was refused",
    "{reason}",
    "run",
)
UNEXPECTED_ERROR = _register(
    "unexpected-error",
    "Unexpected error",
    "a fault in the loader itself; the rest of the batch goes on",
    "unexpected error: {detail}",
    "run",
)
NOT_KEPT = _register(
    "not-kept",
    "File not kept",
    "with --keep-replaced, the file the row would replace or delete could not be "
    "downloaded first, so nothing of the row was sent",
    "the file this row would replace could not be kept in {folder} ({detail}); nothing "
    "of this row was sent",
    "run",
)

# -- undoing a run: bcdc-loader undo ---------------------------------------------------

CHANGED_AFTER_RUN = _register(
    "changed-after-run",
    "Changed after the run",
    "the resource is no longer as the run left it (someone changed it since), so undo "
    "leaves it alone unless --force",
    "resource '{name}' ({resource_id}) {detail}; undo leaves it alone (--force undoes it anyway)",
    "undo",
)
ORDER_CHANGED_AFTER_RUN = _register(
    "order-changed-after-run",
    "Order changed after the run",
    "the dataset's resources are no longer in the order the run left them (someone moved, "
    "added or deleted one since), so undo leaves the order alone unless --force",
    "the resources of dataset '{package}' are no longer in the order the run left them; "
    "undo leaves their order alone (--force puts back the order they had before the run)",
    "undo",
)
GONE_AFTER_RUN = _register(
    "gone-after-run",
    "Gone after the run",
    "the resource the run changed has been deleted since, so there is nothing to put back",
    "resource '{name}' ({resource_id}) is no longer in the catalogue; nothing to undo",
    "undo",
)
FILE_NOT_KEPT = _register(
    "file-not-kept",
    "Replaced file not kept",
    "the run replaced or deleted an uploaded file without keeping it (run --keep-replaced), "
    "so undo cannot bring the file back",
    "undo cannot bring back the file of resource '{name}' that the run {did}: {why}{rest}",
    "undo",
)
NO_SNAPSHOT = _register(
    "no-snapshot",
    "No snapshot",
    "the journal holds no copy of the resource as it was before the row, so undo cannot "
    "put it back",
    "the journal holds no copy of resource {resource_id} as it was before row {row}",
    "undo",
)
IN_DOUBT = _register(
    "in-doubt",
    "In doubt",
    "the run could not tell whether this row's request was saved, so undo does not "
    "guess: check the resource by hand",
    "the run could not tell whether this row was saved ({detail}); undo leaves it: check "
    "the dataset by hand",
    "undo",
)
UNDONE_WITH = _register(
    "undone-with",
    "Undone with another row",
    "the row's resource is put back by the undo of a later row of the run, which did not get done",
    "resource {resource_id} is put back with row {row}, which did not get done: {detail}",
    "undo",
)


def docs_table() -> str:
    """The Markdown table of every code, by stage, for docs/batch-format.md."""
    words = {
        "read": "reading the file (the batch is refused as a whole)",
        "validate": "checking rows",
        "plan": "resolving rows against the catalogue",
        "run": "running",
        "undo": "undoing a run",
    }
    lines = ["| code | found while | meaning |", "|---|---|---|"]
    for problem in REGISTRY.values():
        meaning = (
            "warning (the row still runs): " if problem.warning else ""
        ) + problem.description
        lines.append(f"| `{problem.code}` | {words[problem.stage]} | {meaning} |")
    return "\n".join(lines) + "\n"
