"""The fault matrix: every kind of write call against every shape of answer, through the
fault proxy in front of the real local catalogue.

Each cell is one answer shape (a column of the table in the README's "Unattended
runs" section); one run of a small batch meets it once in each kind of write
call: a create with an upload, a create by URL, a patch, a `package_revise`
fold, a delete and a refresh of `last_modified`. The fault is aimed at that
row's request by a marker its body holds. Every cell obeys one rule:

- RETRY: the catalogue surely did not act (429, 503): the same request again;
- LOOK: it may have acted (502, 504, 500, a connection reset, no answer in
  time): look at what the catalogue holds, and send again only what did not
  land (so a request it saved is sent once, one it did not, twice);
- REFUSED: it answered and refused (413): the row fails in plain words, and
  nothing of it is saved.

And in every cell: each resource meant to exist exists exactly once, each row's
status and action (or error) is true of the catalogue, and no row ends in
"unexpected error". The datasets are shared by the cells, each cell acting on
names and values of its own; waits are cut short (retries' backoff, a create's
patience, the read timeout) so that the whole matrix takes about a minute a line.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from fault_proxy import FaultProxy

from integration.helpers import REQUIRED, write_batch
from loader.client import Catalogue, transport
from loader.pipeline import settle
from loader.run import run_batch

pytestmark = pytest.mark.catalogue

RETRY, LOOK, REFUSED = "retry", "look", "refused"
HTML = b"<!doctype html><html><body><h1>Sorry</h1><p>Try again later.</p></body></html>"
JSON_ERROR = b'{"error": "busy"}'
JSON_OTHER = b'{"success": false, "message": "slow down"}'
PDF = {**REQUIRED, "format": "pdf"}  # uploads the DataStore leaves alone
READ_TIMEOUT = 1.0  # seconds the loader waits for an answer in the cell that never gets one


@dataclass(frozen=True)
class Shape:
    """One answer shape: how the proxy answers a row's request, and the rule it meets."""

    name: str
    rule: str
    kind: str  # the proxy's fault: answer, reset, lose or hang
    status: int = 0
    body: bytes = b""
    content_type: str = ""
    forward: bool = False  # the catalogue acts on the request before the answer

    @property
    def resent(self) -> bool:
        """Whether the request goes a second time (the catalogue did not act on it)."""
        return self.rule == RETRY or (self.rule == LOOK and not self.forward)

    def aim(self, proxy: FaultProxy, action: str, marker: bytes) -> None:
        if self.kind == "answer":
            retry_after = 1 if self.status == 429 else None
            proxy.answer(
                action, self.status, self.body, self.content_type, retry_after,
                forward=self.forward, marker=marker,
            )  # fmt: skip
        elif self.kind == "reset":
            proxy.reset(action, marker)
        elif self.kind == "lose":
            proxy.lose_answer(action, marker)
        else:
            proxy.hang(action, READ_TIMEOUT * 2, marker)


def _busy(status: int) -> list[Shape]:
    bodies = [
        ("HTML", HTML, "text/html"),
        ("JSON with an error string", JSON_ERROR, "application/json"),
        ("JSON without error", JSON_OTHER, "application/json"),
        ("an empty body", b"", ""),
    ]
    return [Shape(f"{status}, {w}", RETRY, "answer", status, b, t) for w, b, t in bodies]


SHAPES = [
    *_busy(429),
    *_busy(503),
    Shape("502, not passed on", LOOK, "answer", 502, HTML, "text/html"),
    Shape("504, after the catalogue acted", LOOK, "answer", 504, HTML, "text/html", True),
    Shape("500, not passed on", LOOK, "answer", 500, HTML, "text/html"),
    Shape("500, after the catalogue acted", LOOK, "answer", 500, HTML, "text/html", True),
    Shape("413", REFUSED, "answer", 413, HTML, "text/html"),
    Shape("reset before the request reaches the catalogue", LOOK, "reset"),
    Shape("reset after the catalogue saved it", LOOK, "lose", forward=True),
    Shape("no answer within the read timeout", LOOK, "hang", forward=True),
]


@dataclass
class Stage:
    """What the cells share on one CKAN line: the proxy, the loader's client, one
    dataset for each kind of call, the files to upload, and the folder for batches."""

    proxy: FaultProxy
    client: Catalogue
    admin: object
    packages: dict[str, dict]
    folder: Path
    upload_hash: str
    doomed: dict[str, str]  # cell id -> the id of the resource its delete row deletes

    def resources(self, kind: str) -> dict[str, dict]:
        package = self.admin.action.package_show(id=self.packages[kind]["id"])
        return {r["name"]: r for r in package["resources"]}

    def names(self, kind: str) -> Counter[str]:
        package = self.admin.action.package_show(id=self.packages[kind]["id"])
        return Counter(r["name"] for r in package["resources"])


KINDS = ("upload", "link", "patch", "fold", "delete", "touch")


@pytest.fixture(scope="module")
def stage(catalogue, tmp_path_factory):
    import ckan_stack

    admin = catalogue.client("admin")
    folder = tmp_path_factory.mktemp("matrix")
    # PDFs, which the DataStore does not load: a load would write into the resources
    # (their hash, the dataset's metadata_modified) while the cells look at them
    (folder / "upload.pdf").write_bytes(b"%PDF-1.4\n% the file every cell uploads\n%%EOF\n")
    (folder / "touch.pdf").write_bytes(b"%PDF-1.4\n% the file refreshed\n%%EOF\n")
    packages = {}
    for kind in KINDS:
        name = f"matrix-{kind}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}"
        fields = ckan_stack.dataset_fields(
            name, f"Fault matrix: {kind}", catalogue.editor_organization
        )
        packages[kind] = admin.action.package_create(**fields)

    def link(kind: str, name: str) -> dict:
        return admin.action.resource_create(
            package_id=packages[kind]["id"],
            name=name,
            url=f"https://example.com/{name.replace(' ', '-')}",
            **REQUIRED,
        )

    link("patch", "Patched")
    link("fold", "F1")
    link("fold", "F2")
    doomed = {
        f"s{n:02}": link("delete", f"Doomed s{n:02}")["id"] for n in range(1, len(SHAPES) + 1)
    }
    editor = Catalogue(catalogue.url, catalogue.editor_token)
    touch_row = {"op": "create", "package": packages["touch"]["name"], "name": "Touched",
                 "upload": "touch.pdf", **PDF}  # fmt: skip
    made = run_batch(write_batch(folder, touch_row, name="touch-setup.csv"), editor)
    assert made.exit_code == 0, made.outcomes
    proxy = FaultProxy(catalogue.url)
    client = Catalogue(proxy.url, catalogue.editor_token, sleep=lambda seconds: None)
    upload_hash = "sha256:" + hashlib.sha256((folder / "upload.pdf").read_bytes()).hexdigest()
    yield Stage(proxy, client, admin, packages, folder, upload_hash, doomed)
    proxy.go_away()
    client.close()
    for package in packages.values():
        admin.action.dataset_purge(id=package["id"])


def _rows(stage: Stage, cell: str) -> list[dict[str, str]]:
    """The batch of one cell: one row (two for the fold) for each kind of call."""
    name = {kind: stage.packages[kind]["name"] for kind in KINDS}
    return [
        {"op": "create", "package": name["upload"], "name": f"Upload {cell}",
         "upload": "upload.pdf", **PDF},
        {"op": "create", "package": name["link"], "name": f"Link {cell}",
         "url": f"https://example.com/{cell}", **REQUIRED},
        {"op": "patch", "package": name["patch"], "name": "Patched",
         "description": f"patched {cell}"},
        {"op": "patch", "package": name["fold"], "name": "F1", "description": f"folded {cell}"},
        {"op": "patch", "package": name["fold"], "name": "F2", "description": f"folded {cell}"},
        {"op": "delete", "package": name["delete"], "name": f"Doomed {cell}"},
        {"op": "patch", "package": name["touch"], "name": "Touched", "upload": "touch.pdf",
         "last_modified": f"2020-01-01T00:00:{cell[1:]}"},
    ]  # fmt: skip


def _aim(stage: Stage, shape: Shape, cell: str) -> dict[str, tuple[str, bytes]]:
    """Aim the shape at each row's request; returns {kind: (action, marker)}."""
    aims = {
        "upload": ("resource_create", f"Upload {cell}".encode()),
        "link": ("resource_create", f"Link {cell}".encode()),
        "patch": ("resource_patch", f"patched {cell}".encode()),
        "fold": ("package_revise", f"folded {cell}".encode()),
        "delete": ("resource_delete", stage.doomed[cell].encode()),
        "touch": ("update_resource_refresh_timestamp", f"2020-01-01 00:00:{cell[1:]}".encode()),
    }
    for action, marker in aims.values():
        shape.aim(stage.proxy, action, marker)
    return aims


@pytest.mark.parametrize(
    ("number", "shape"),
    list(enumerate(SHAPES, start=1)),
    ids=[f"{s.name}: {s.rule}" for s in SHAPES],
)
def test_every_write_call_meets_every_answer_shape_and_the_result_stays_true(
    stage, monkeypatch, number, shape
):
    cell = f"s{number:02}"
    monkeypatch.setattr(settle, "SETTLE_SECONDS", 0.05)
    if shape.kind == "hang":
        monkeypatch.setattr(transport, "READ_TIMEOUT", READ_TIMEOUT)
    before = {kind: stage.resources(kind) for kind in ("patch", "fold", "touch")}
    stage.proxy.faults.clear()  # nothing left over from a cell before
    aims = _aim(stage, shape, cell)
    stage.proxy.requests.clear()

    result = run_batch(
        write_batch(stage.folder, *_rows(stage, cell), name=f"{cell}.csv"), stage.client
    )

    by_kind = dict(zip(["upload", "link", "patch", "fold1", "fold2", "delete", "touch"],
                       result.outcomes, strict=True))  # fmt: skip
    assert not stage.proxy.faults_left(), "a fault was never met"
    assert not [o for o in result.outcomes if o.code == "unexpected-error"], result.outcomes
    if shape.rule == REFUSED:
        _refused(stage, cell, by_kind, before)
    else:
        _landed_once(stage, cell, by_kind)
    for kind, (action, marker) in aims.items():
        sent = stage.proxy.sent(action, marker)
        if kind == "fold" and shape.rule == LOOK and shape.resent:
            sent += stage.proxy.sent("resource_patch", marker) // 2  # resent row by row
        assert sent == (2 if shape.resent else 1), (kind, stage.proxy.requests)


def _landed_once(stage: Stage, cell: str, by_kind: dict) -> None:
    """Every row done, and the catalogue holds exactly what their actions say."""
    assert {k: (o.status, o.error) for k, o in by_kind.items()} == {
        k: ("done", "") for k in by_kind
    }
    uploads, links = stage.names("upload"), stage.names("link")
    assert uploads[f"Upload {cell}"] == 1 and links[f"Link {cell}"] == 1
    made = stage.resources("upload")[f"Upload {cell}"]
    assert made["hash"] == stage.upload_hash and by_kind["upload"].resource_id == made["id"]
    assert by_kind["upload"].action.startswith(f"created resource 'Upload {cell}' from file")
    assert by_kind["link"].resource_id == stage.resources("link")[f"Link {cell}"]["id"]
    assert stage.resources("patch")["Patched"]["description"] == f"patched {cell}"
    assert {r["description"] for r in stage.resources("fold").values()} == {f"folded {cell}"}
    assert f"Doomed {cell}" not in stage.names("delete")
    assert by_kind["delete"].action == f"deleted resource 'Doomed {cell}'"
    touched = stage.resources("touch")["Touched"]
    assert touched["last_modified"].startswith(f"2020-01-01T00:00:{cell[1:]}")
    assert by_kind["touch"].action.startswith("touched resource 'Touched': last_modified")


def _refused(stage: Stage, cell: str, by_kind: dict, before: dict) -> None:
    """Every row failed in plain words, and nothing of any was saved."""
    for kind, outcome in by_kind.items():
        assert outcome.status == "failed", (kind, outcome)
        assert "HTTP 413" in outcome.error and "nothing was saved" in outcome.error, outcome.error
    assert stage.names("upload")[f"Upload {cell}"] == 0
    assert stage.names("link")[f"Link {cell}"] == 0
    assert f"Doomed {cell}" in stage.names("delete")
    for kind in ("patch", "fold", "touch"):
        assert stage.resources(kind) == before[kind]
