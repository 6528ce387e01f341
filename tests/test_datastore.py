"""The DataStore side of a run, against the in-memory catalogue: each file sent is
followed to its load, the row says how it went in words, the exit code and the
Summary count it, an unchanged file whose last load failed is loaded again, and
export and due say how each resource stands. The local catalogue shows the same
in tests/integration/test_datastore_run.py."""

from __future__ import annotations

import hashlib
import itertools
import threading

import openpyxl
import pytest
from batches import DOCUMENT, write_batch
from fake_catalogue import FakeCatalogue

from loader.client import LoadStatus
from loader.client.loads import load_status, loader_of
from loader.datastore import reason_in_words, state_words
from loader.due import due_report
from loader.export import export_batch
from loader.model import LoadState
from loader.options import RunOptions
from loader.pipeline import follow
from loader.pipeline.read import read_batch
from loader.pipeline.record import Recorder
from loader.run import run_batch
from loader.undo import undo_run

UPLOAD = {k: v for k, v in DOCUMENT.items() if k != "url"}


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """Loads are looked at within milliseconds, not seconds."""
    monkeypatch.setattr(follow, "POLL_FIRST", 0.01)
    monkeypatch.setattr(follow, "POLL_CAP", 0.05)
    monkeypatch.setattr(follow, "SPACING", 0.0)


@pytest.fixture
def catalogue():
    fake = FakeCatalogue()
    fake.loader = "xloader"
    fake.add_package(DOCUMENT["package"])
    return fake


def upload_rows(tmp_path, *names: str, lines: int = 4):
    rows = []
    for name in names:
        content = "site,value\n" + "".join(f"S{n},{n}\n" for n in range(lines))
        (tmp_path / f"{name}.csv").write_text(content)
        rows.append({**UPLOAD, "op": "upsert", "name": name, "upload": f"{name}.csv"})
    return rows


def test_a_loaded_file_says_how_many_rows_and_a_failed_one_why(catalogue, tmp_path):
    catalogue.load_failures["Broken"] = "Row 3 has more values than the 2 column(s) in the header."
    batch = write_batch(tmp_path, *upload_rows(tmp_path, "Good", "Broken"))
    out = tmp_path / "results.xlsx"

    result = run_batch(batch, catalogue, result_path=out)

    good, broken = result.outcomes
    assert (good.status, good.load, good.datastore) == ("done", LoadState.LOADED, "loaded 4 rows")
    assert broken.status == "done" and broken.load == LoadState.FAILED
    assert broken.datastore == (
        "load failed: Row 3 has more values than the 2 column(s) in the header."
    )
    assert broken.error == "DataStore loader: " + catalogue.load_failures["Broken"]
    assert result.exit_code == 4
    assert result.load_counts() == {"loaded": 1, "load failed": 1}
    results = openpyxl.load_workbook(out)
    sheet = list(results["Results"].iter_rows(values_only=True))
    at = sheet[0].index("datastore")
    assert at == 4  # with the outcome, before the batch's columns
    assert [r[at] for r in sheet[1:]] == ["loaded 4 rows", broken.datastore]
    summary = dict(results["Summary"].iter_rows(values_only=True))
    assert summary["DataStore: loaded"] == 1 and summary["DataStore: load failed"] == 1
    # the result workbook is still a batch: its datastore column is ignored
    assert "datastore" not in read_batch(out, sheet="Results").columns


def test_a_load_not_finished_is_still_loading_and_zero_wait_only_looks(catalogue, tmp_path):
    catalogue.hold_loads = True
    batch = write_batch(tmp_path, *upload_rows(tmp_path, "Held"))

    result = run_batch(batch, catalogue, RunOptions(datastore_wait=0))

    (held,) = result.outcomes
    assert held.load == LoadState.LOADING
    assert held.datastore == "still loading after 0 s (queued, not started)"
    assert result.exit_code == 4
    assert catalogue.calls.count(("load_status", held.resource_id)) == 1  # one look, at the end


def test_a_stop_ends_the_wait_at_once(catalogue, tmp_path):
    catalogue.hold_loads = True
    batch = write_batch(tmp_path, *upload_rows(tmp_path, "Held"))
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()

    result = run_batch(batch, catalogue, RunOptions(datastore_wait=600), stop=stop)

    assert result.outcomes[0].datastore.startswith("still loading after 0 s")
    assert result.summary.duration < 5


def test_files_the_datastore_does_not_take_and_catalogues_without_a_loader(catalogue, tmp_path):
    (tmp_path / "notes.txt").write_text("notes\n")
    row = {**UPLOAD, "op": "upsert", "name": "Notes", "format": "txt", "upload": "notes.txt"}
    batch = write_batch(tmp_path, row, *upload_rows(tmp_path, "Table"))

    loaded = run_batch(batch, catalogue).outcomes
    catalogue.loader = None
    (tmp_path / "Table.csv").write_text("site\nS9\n")  # a new file, sent again
    unfollowed = run_batch(batch, catalogue)

    assert [o.datastore for o in loaded] == ["not loaded (format txt)", "loaded 4 rows"]
    assert unfollowed.outcomes[1].datastore == "not followed: the catalogue has no DataStore loader"
    assert unfollowed.outcomes[1].load == LoadState.NOT_FOLLOWED
    assert unfollowed.exit_code == 0


def test_an_unchanged_file_whose_last_load_failed_is_loaded_again(catalogue, tmp_path):
    catalogue.load_failures["Sites"] = "Could not connect to DataPusher."
    batch = write_batch(tmp_path, *upload_rows(tmp_path, "Sites"))
    first = run_batch(batch, catalogue).outcomes[0]
    assert first.load == LoadState.FAILED
    del catalogue.load_failures["Sites"]

    preview = run_batch(batch, catalogue, RunOptions(dry_run=True)).outcomes[0]
    again = run_batch(batch, catalogue)

    assert preview.action.startswith("no change (file unchanged); its last DataStore load failed (")
    assert preview.action.endswith("): would resubmit it")
    (row,) = again.outcomes
    assert row.action.endswith("): resubmitted it")
    assert (row.load, row.datastore) == (LoadState.LOADED, "loaded 4 rows")
    assert catalogue.submitted == [first.resource_id]
    assert again.exit_code == 0


def test_an_unchanged_file_that_loaded_is_not_asked_about(catalogue, tmp_path):
    batch = write_batch(tmp_path, *upload_rows(tmp_path, "Sites"))
    sent = run_batch(batch, catalogue).outcomes[0]
    # the DataStore loader writes the file's MD5 once it has loaded it
    resource = catalogue._find(sent.resource_id)[1]
    resource["hash"] = __import__("hashlib").md5((tmp_path / "Sites.csv").read_bytes()).hexdigest()
    catalogue.calls.clear()

    again = run_batch(batch, catalogue).outcomes[0]

    assert again.action == "no change (file unchanged)" and again.datastore == ""
    assert catalogue.calls == []


def test_the_status_read_keeps_only_what_a_client_needs():
    answer = {
        "status": "error",
        "job_id": "j2",
        "last_updated": "2026-03-01T10:00:05.5",
        "error": "Row 3 has more values than the 2 column(s) in the header.",
        "task_info": {
            "status": "error",
            "api_key": "SECRET-TOKEN",
            "metadata": {"task_created": "2026-03-01 10:00:01.25"},
            "error": {"message": "Traceback...\nLoaderError('...')"},
        },
    }

    status = load_status(answer)

    assert status == LoadStatus(
        "error", "j2", "2026-03-01 10:00:01.25", "2026-03-01T10:00:05.5", answer["error"]
    )
    assert "SECRET" not in repr(status)
    # an earlier job that ends after a new one was queued writes its end into the task:
    # with no record of the new job yet, the new job is still queued
    overwritten = load_status({"status": "complete", "job_id": "j3", "last_updated": "x"})
    assert overwritten.state == "pending" and not overwritten.finished
    # DataPusher keeps the reason in its job record
    pushed = {"status": "error", "error": {}, "task_info": {"status": "error",
              "error": {"message": "HTTP Error 404"}}}  # fmt: skip
    assert load_status(pushed).error == "HTTP Error 404"
    assert loader_of(["datastore", "xloader"]) == "xloader"
    assert loader_of(["datastore", "datapusher"]) == "datapusher"
    assert loader_of(["xloader"]) is None  # no DataStore, nothing to load into


def test_a_status_left_by_an_older_job_is_not_taken_for_the_new_files(catalogue):
    """A status queued before the file was stored is an earlier file's; if it stays so,
    the catalogue started no load for the new file."""
    older = LoadStatus("complete", "j1", "2026-03-01T09:00:00", "2026-03-01T09:00:04")
    catalogue.load_statuses["r1"] = older
    now = [0.0]
    recorder = Recorder([2])
    follower = follow.Follower(catalogue, recorder, wait=60, clock=lambda: now[0])
    load = follow._Load(2, "r1", follow.moment_of("2026-03-01T10:00:00"), 0.0, 0.0, 1.0)

    assert follower._verdict(load, older, last=False) is None
    now[0] = follow.STALE_AFTER
    assert follower._verdict(load, older, last=False) == (
        LoadState.FAILED, follow.NO_LOAD_STARTED, ""
    )  # fmt: skip
    newer = LoadStatus("running", "j2", "2026-03-01T10:00:00.5", "2026-03-01T10:00:01")
    assert follower._verdict(load, newer, last=False) is None
    assert follower._verdict(load, newer, last=True)[:2] == (
        LoadState.LOADING, "still loading after 30 s"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (
            "[Errno 2] No such file or directory: '/tmp/output_0a1b.csv'",
            "the file is empty: there is nothing to load",
        ),
        (
            "The file could not be read as a table. This usually means the file is not "
            "really in the format its name suggests (Technical details: Cannot parse)",
            "the file could not be read as a table; it is probably not really in the "
            "format its name or its format cell says",
        ),
        (
            "Validation error writing rows to db: None - {'field': ['Duplicate column "
            "names are not supported']}",
            "two columns have the same heading; give each column a name of its own",
        ),
        (
            "b'HTTPSConnectionPool(host=x): Max retries exceeded' status=None",
            "the catalogue's loader could not download the file from the catalogue; "
            "resubmitting the load may work",
        ),
        (
            # as xloader on CKAN 2.10 sometimes records it: the traceback's last lines first
            'File "/venv/ckanext/xloader/loader.py", line 97, in _should_keep_cell raise '
            'LoaderError(lead + " " + detail) LoaderError("Row 3 has more values than the 2 '
            "column(s) in the header. The extra value is: 'extra'. This usually means a value "
            'in the row contains a comma")',
            "row 3 has more values than the 2 columns of the heading row (the extra value is "
            "'extra'); a value holding a comma or a double quote must be wrapped in double "
            "quotes",
        ),
        ("Something new\x1b[31m", "Something new\\x1b[31m"),
        ("", "the loader gave no reason"),
    ],
)
def test_the_loaders_reasons_in_an_editors_words(reason, words):
    assert reason_in_words(reason) == words


def test_export_and_due_say_how_each_resource_stands(catalogue, tmp_path):
    package = catalogue.packages[f"pkg-{DOCUMENT['package']}"]
    old = {"resource_update_cycle": "monthly", "last_modified": "2020-01-01T00:00:00"}
    package["resources"] += [
        {"id": "r-ok", "name": "Loaded", "format": "csv", "datastore_active": True,
         "hash": "0123456789abcdef0123456789abcdef", **old},
        {"id": "r-bad", "name": "Failed", "format": "csv", "hash": "sha256:ab", **old},
        {"id": "r-pdf", "name": "Report", "format": "pdf", **old},
    ]  # fmt: skip
    catalogue.load_statuses["r-bad"] = LoadStatus(
        "error", "j", "2026-03-01T10:00:00", "2026-03-01T10:00:04.5", "Duplicate column names"
    )

    exported = export_batch(catalogue, tmp_path / "export.xlsx", packages=[DOCUMENT["package"]])
    due = {d.name: d.datastore for d in due_report(catalogue, packages=[DOCUMENT["package"]])}

    expected = {
        "r-ok": "active",
        "r-bad": "last load failed 2026-03-01 10:00 UTC: Duplicate column names",
        "r-pdf": "",
    }
    assert exported.datastore == expected
    assert due == {"Loaded": "active", "Failed": expected["r-bad"], "Report": ""}
    # only the resource whose last load may have failed was asked about
    assert [c for c in catalogue.calls if c[0] == "load_status"] == [("load_status", "r-bad")] * 2
    sheet = list(openpyxl.load_workbook(exported.path)["Batch"].iter_rows(values_only=True))
    assert sheet[0][-1] == "datastore" and sheet[2][-1] == expected["r-bad"]
    assert "datastore" not in read_batch(exported.path).columns


def test_state_words_for_a_load_under_way_and_one_never_made():
    table = {"format": "csv"}
    queued = LoadStatus("pending", "j", "2026-03-01T10:00:00", "2026-03-01T10:00:00")
    assert state_words(table, queued) == "loading, queued 2026-03-01 10:00 UTC"
    assert state_words(table, None) == "not in the DataStore"
    assert state_words({**table, "datastore_active": True}, None) == "active"


# -- the loader's own bookkeeping is nobody's change: the fold's guard, and undo ---------


class LoadsMeanwhile(FakeCatalogue):
    """A catalogue whose DataStore loader finishes the loads of the files sent just
    before the next package_revise arrives, writing into those resources as xloader
    does (and so moving the dataset's metadata_modified)."""

    def __init__(self) -> None:
        super().__init__()
        self.loader = "xloader"
        self.hold_loads = True
        self.seconds = itertools.count(1)
        self.refused = 0

    def _stamp(self) -> str:  # stamps a client can compare, as CKAN's
        return f"2026-03-01T10:{next(self.seconds):02d}:00"

    def revise_package(self, data):
        package = self.packages[data["match"]["id"]]
        for resource in package["resources"]:
            status = self.load_statuses.get(resource["id"])
            if status is not None and status.state == "pending":
                self.end_load(resource["id"])
                resource.update(hash="0" * 32, ckan_url=self.url, task_created="x",
                                metadata_modified=self._stamp())  # fmt: skip
                package["metadata_modified"] = self._stamp()
        try:
            return super().revise_package(data)
        except Exception:
            self.refused += 1
            raise


def test_a_load_finishing_before_a_fold_does_not_refuse_it(tmp_path):
    catalogue = LoadsMeanwhile()
    package = catalogue.add_package(DOCUMENT["package"])
    package["resources"] += [
        {"id": "r-a", "name": "A", "format": "pdf", "metadata_modified": "2026-01-01T00:00:00"},
        {"id": "r-b", "name": "B", "format": "pdf", "metadata_modified": "2026-01-01T00:00:00"},
    ]
    patches = [{"op": "patch", "package": DOCUMENT["package"], "name": n, "description": "new"}
               for n in ("A", "B")]  # fmt: skip
    batch = write_batch(tmp_path, *upload_rows(tmp_path, "Table"), *patches)

    result = run_batch(batch, catalogue, RunOptions(datastore_wait=5))

    assert [o.status for o in result.outcomes] == ["done"] * 3
    assert catalogue.refused == 1  # refused once, looked at, sent again
    assert result.outcomes[0].datastore == "loaded 4 rows"


def test_a_change_by_someone_else_still_refuses_the_fold(tmp_path):
    catalogue = LoadsMeanwhile()
    package = catalogue.add_package(DOCUMENT["package"])
    package["resources"] += [
        {"id": "r-a", "name": "A", "format": "pdf", "metadata_modified": "2026-01-01T00:00:00"},
        {"id": "r-b", "name": "B", "format": "pdf", "metadata_modified": "2026-01-01T00:00:00"},
    ]
    original = catalogue.revise_package

    def someone_edits_b(data):
        package["resources"][1].update(description="theirs", metadata_modified="2026-03-02")
        package["metadata_modified"] = "2026-03-02T00:00:00"
        return original(data)

    catalogue.revise_package = someone_edits_b
    patches = [{"op": "patch", "package": DOCUMENT["package"], "name": n, "description": "new"}
               for n in ("A", "B")]  # fmt: skip

    result = run_batch(write_batch(tmp_path, *patches), catalogue)

    assert [o.code for o in result.outcomes] == ["dataset-changed"] * 2
    assert package["resources"][1]["description"] == "theirs"


def test_undo_takes_the_loaders_bookkeeping_as_the_run_left_it(catalogue, tmp_path):
    (tmp_path / "old.csv").write_text("site\nS0\n")
    catalogue.write_resource(
        "resource_create",
        {"package_id": f"pkg-{DOCUMENT['package']}", **UPLOAD, "name": "Table"},
        tmp_path / "old.csv",
    )
    rows = upload_rows(tmp_path, "Table")
    out = tmp_path / "results.xlsx"
    run = run_batch(
        write_batch(tmp_path, *rows),
        catalogue,
        RunOptions(keep_replaced=tmp_path / "kept"),
        result_path=out,
    )
    resource = catalogue._find(run.outcomes[0].resource_id)[1]
    assert resource["hash"].startswith("sha256:")
    resource.update(hash="0" * 32, datastore_active=True, ckan_url="x", task_created="y")

    undo = undo_run(out, catalogue)

    assert undo.exit_code == 0, [o.error for o in undo.outcomes]
    old = (tmp_path / "old.csv").read_bytes()
    assert resource["hash"] == "sha256:" + hashlib.sha256(old).hexdigest()
    assert undo.outcomes[0].datastore == "loaded 1 row"  # the file put back, loaded again


def test_undo_has_nothing_to_undo_for_a_load_resubmitted(catalogue, tmp_path):
    catalogue.load_failures["Sites"] = "worker gone"
    batch = write_batch(tmp_path, *upload_rows(tmp_path, "Sites"))
    run_batch(batch, catalogue)
    del catalogue.load_failures["Sites"]
    out = tmp_path / "results.xlsx"
    assert (
        run_batch(batch, catalogue, result_path=out).outcomes[0].action.endswith("resubmitted it")
    )

    undo = undo_run(out, catalogue)

    (row,) = undo.outcomes
    assert row.status == "done" and row.action.startswith("nothing to undo: the run only asked")
    assert undo.exit_code == 0
