"""Undoing a run from its journal, and keeping replaced files (fake catalogue)."""

from __future__ import annotations

import hashlib
import json

import pytest
from batches import DOCUMENT, write_batch
from fake_catalogue import FakeCatalogue

from loader.errors import CannotStart
from loader.options import RunOptions, UndoOptions
from loader.pipeline.journal import journal_path
from loader.run import run_batch
from loader.undo import undo_run

PACKAGE = DOCUMENT["package"]
FIELDS = {k: v for k, v in DOCUMENT.items() if k not in ("op", "package", "name", "url")}


@pytest.fixture
def catalogue(tmp_path):
    fake = FakeCatalogue()
    package = fake.add_package(PACKAGE)
    for name in ("Link", "Gone"):
        fake.write_resource(
            "resource_create",
            {"package_id": package["id"], "name": name, "url": f"https://example.com/{name}",
             **FIELDS, "description": f"{name} as it was"},
        )  # fmt: skip
    (tmp_path / "old.csv").write_bytes(b"the old file\n")
    fake.write_resource(
        "resource_create",
        {"package_id": package["id"], "name": "File", **FIELDS, "description": "old"},
        tmp_path / "old.csv",
    )
    return fake


def resources(catalogue) -> dict[str, dict]:
    """The dataset's resources by name, without their ids."""
    return {
        r["name"]: {k: v for k, v in r.items() if k != "id"}
        for r in catalogue.package(PACKAGE)["resources"]
    }


def rows(tmp_path) -> list[dict[str, str]]:
    (tmp_path / "new.csv").write_bytes(b"the new file, longer\n")
    return [
        {**DOCUMENT, "name": "Made"},
        {"op": "patch", "package": PACKAGE, "name": "Link", "description": "patched"},
        {**DOCUMENT, "op": "update", "name": "File", "url": "", "upload": "new.csv"},
        {"op": "delete", "package": PACKAGE, "name": "Gone"},
    ]


def test_undo_puts_back_what_a_run_created_patched_updated_and_deleted(catalogue, tmp_path):
    before = resources(catalogue)
    result_path = tmp_path / "results.xlsx"
    run = run_batch(
        write_batch(tmp_path, *rows(tmp_path)),
        catalogue,
        RunOptions(keep_replaced=tmp_path / "kept"),
        result_path=result_path,
    )
    assert run.exit_code == 0, [o.error for o in run.outcomes]
    assert resources(catalogue) != before
    gone_id = run.outcomes[3].resource_id

    undo = undo_run(result_path, catalogue)

    assert undo.exit_code == 0, [o.error for o in undo.outcomes]
    after = resources(catalogue)
    # the file put back carries its SHA-256, so that a DataStore loader loads it again
    assert after["File"].pop("hash") == "sha256:" + hashlib.sha256(b"the old file\n").hexdigest()
    assert after == before
    (file,) = [r for r in catalogue.package(PACKAGE)["resources"] if r["name"] == "File"]
    assert catalogue.files[file["url"]] == b"the old file\n"
    assert [(o.row, o.status) for o in undo.outcomes] == [(r, "done") for r in (5, 4, 3, 2)]
    actions = [o.action for o in undo.outcomes]
    assert (
        actions[0] == f"created resource 'Gone' (again, as it was before row 5; it was {gone_id})"
    )
    kept = tmp_path / "kept" / file["id"] / "1" / "old.csv"
    assert actions[1].startswith(f"updated resource 'File': new file {kept};")
    assert actions[2] == (
        "updated resource 'Link': description: 'patched' -> 'Link as it was' "
        "(back to how it was before row 3)"
    )
    assert actions[3] == "deleted resource 'Made'"
    assert undo.outcomes[0].resource_id not in (None, gone_id)
    assert undo.result_path is not None and undo.result_path.name.startswith("results-undo-")
    assert journal_path(undo.result_path).exists()


def test_keep_replaced_downloads_the_file_before_the_upload_and_journals_where(catalogue, tmp_path):
    result_path = tmp_path / "results.xlsx"
    run_batch(
        write_batch(tmp_path, *rows(tmp_path)[2:3]),
        catalogue,
        RunOptions(keep_replaced=tmp_path / "kept"),
        result_path=result_path,
    )

    (file_id,) = [r["id"] for r in catalogue.package(PACKAGE)["resources"] if r["name"] == "File"]
    kept = tmp_path / "kept" / file_id / "1" / "old.csv"
    assert kept.read_bytes() == b"the old file\n"
    records = [json.loads(line) for line in journal_path(result_path).read_text().splitlines()]
    (sent,) = [r for r in records if r["kind"] == "sent"]
    assert sent["before"]["2"]["_kept_file"] == str(kept)
    (outcome,) = [r for r in records if r["kind"] == "outcome"]
    assert outcome["saved"]["url"].endswith("/new.csv")
    assert [c[0] for c in catalogue.calls[-2:]] == ["download", "resource_update"]


def test_a_file_that_cannot_be_kept_fails_its_row_and_sends_nothing(catalogue, tmp_path):
    catalogue.files.clear()

    result = run_batch(
        write_batch(tmp_path, *rows(tmp_path)[2:3]),
        catalogue,
        RunOptions(keep_replaced=tmp_path / "kept"),
    )

    (outcome,) = result.outcomes
    assert outcome.status == "failed" and outcome.code == "not-kept"
    assert "nothing of this row was sent" in outcome.error
    assert "resource_update" not in [c[0] for c in catalogue.calls]


def test_undo_refuses_a_resource_changed_after_the_run_unless_forced(catalogue, tmp_path):
    before = resources(catalogue)
    result_path = tmp_path / "results.xlsx"
    run_batch(write_batch(tmp_path, *rows(tmp_path)[:2]), catalogue, result_path=result_path)
    (link,) = [r for r in catalogue.package(PACKAGE)["resources"] if r["name"] == "Link"]
    catalogue.write_resource("resource_patch", {"id": link["id"], "format": "pdf"})

    refused = undo_run(result_path, catalogue)

    assert refused.exit_code == 1
    by_row = {o.row: o for o in refused.outcomes}
    assert by_row[3].status == "failed" and by_row[3].code == "changed-after-run"
    assert "changed after the run (format differs)" in by_row[3].error
    assert by_row[2].status == "done"  # the resource the run made is gone again
    assert resources(catalogue)["Link"]["format"] == "pdf"

    forced = undo_run(result_path, catalogue, UndoOptions(force=True))

    assert {o.row: o.status for o in forced.outcomes} == {3: "done", 2: "failed"}
    assert forced.outcomes[1].code == "gone-after-run"
    assert resources(catalogue) == before


def test_a_dry_run_of_undo_writes_nothing(catalogue, tmp_path):
    result_path = tmp_path / "results.xlsx"
    run_batch(
        write_batch(tmp_path, *rows(tmp_path)),
        catalogue,
        RunOptions(keep_replaced=tmp_path / "kept"),
        result_path=result_path,
    )
    after = resources(catalogue)
    calls = len(catalogue.calls)
    files = set(tmp_path.iterdir())

    dry = undo_run(result_path, catalogue, UndoOptions(dry_run=True))

    assert resources(catalogue) == after and len(catalogue.calls) == calls
    assert set(tmp_path.iterdir()) == files and dry.result_path is None
    assert [o.status for o in dry.outcomes] == ["not run"] * 4 and dry.exit_code == 0
    assert dry.outcomes[-1].action == "would delete resource 'Made'"


def test_a_resource_changed_by_several_rows_goes_back_to_its_first_snapshot(catalogue, tmp_path):
    before = resources(catalogue)
    patch = {"op": "patch", "package": PACKAGE, "name": "Link"}
    batch = write_batch(
        tmp_path,
        {**patch, "description": "first"},
        {**patch, "format": "pdf"},
        {"op": "delete", "package": PACKAGE, "name": "Link"},
        {**DOCUMENT, "name": "Brief"},
        {"op": "delete", "package": PACKAGE, "name": "Brief"},
    )
    result_path = tmp_path / "results.xlsx"
    run = run_batch(batch, catalogue, RunOptions(fold=False), result_path=result_path)
    assert run.exit_code == 0, [o.error for o in run.outcomes]

    undo = undo_run(result_path, catalogue)

    assert resources(catalogue) == before
    assert [(o.row, o.status, o.action) for o in undo.outcomes] == [
        (6, "done", "no change (the run created it and deleted it again)"),
        (5, "done", "put back with row 6"),
        (4, "done", undo.outcomes[2].action),
        (3, "done", "put back with row 4"),
        (2, "done", "put back with row 4"),
    ]
    assert undo.outcomes[2].action.startswith(
        "created resource 'Link' (again, as it was before row 2"
    )


def test_a_replaced_file_the_run_did_not_keep_is_refused_and_force_puts_back_the_rest(
    catalogue, tmp_path
):
    before = resources(catalogue)["File"]
    result_path = tmp_path / "results.xlsx"
    run_batch(write_batch(tmp_path, *rows(tmp_path)[2:3]), catalogue, result_path=result_path)

    (refused,) = undo_run(result_path, catalogue).outcomes
    (forced,) = undo_run(result_path, catalogue, UndoOptions(force=True)).outcomes

    assert refused.code == "file-not-kept"
    assert "the run did not keep it (run --keep-replaced)" in refused.error
    assert forced.status == "done"
    now = resources(catalogue)["File"]
    assert now["description"] == before["description"] == "old"
    assert now["url"].endswith("/new.csv")


def test_undo_needs_the_journal_and_the_runs_own_catalogue(catalogue, tmp_path):
    result_path = tmp_path / "results.xlsx"
    with pytest.raises(CannotStart, match="there is no journal of the run to undo"):
        undo_run(result_path, catalogue)
    run_batch(write_batch(tmp_path, rows(tmp_path)[0]), catalogue, result_path=result_path)
    other = FakeCatalogue()
    other.url = "https://elsewhere.example"
    with pytest.raises(CannotStart, match="the run wrote to https://catalogue.example"):
        undo_run(result_path, other)


def test_the_undo_command_names_the_missing_journal_and_exits_2(tmp_path):
    from click.testing import CliRunner

    from loader.cli import main

    result = CliRunner().invoke(
        main,
        ["undo", str(tmp_path / "results.xlsx"), "--ckan", "http://127.0.0.1:9"],
        env={"CKAN_API_KEY": "secret-token"},
    )

    assert result.exit_code == 2
    assert "there is no journal of the run to undo" in result.output
    assert "results.journal.jsonl" in result.output


def test_a_row_a_resume_found_saved_still_counts_as_what_it_first_sent(tmp_path):
    from loader.pipeline.journal import read_journal

    journal = tmp_path / "results.journal.jsonl"
    records = [
        {"kind": "run", "target": "https://catalogue.example", "rows": {"2": "d"}},
        {"kind": "sent", "rows": [2], "actions": {"2": "create"}, "before": {}},
        {"kind": "run", "target": "https://catalogue.example", "rows": {"2": "d"}},
        {"kind": "sent", "rows": [2], "actions": {"2": "noop"}, "before": {}},
    ]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))

    assert read_journal(journal).actions == {2: "create"}


def test_a_row_the_run_could_not_tell_was_saved_is_named_not_guessed(catalogue, tmp_path):
    from loader.client import Unreachable

    catalogue.faults["Made"] = Unreachable("resource_create: no answer (ReadTimeout)")
    result_path = tmp_path / "results.xlsx"
    run = run_batch(write_batch(tmp_path, rows(tmp_path)[0]), catalogue, result_path=result_path)
    assert run.outcomes[0].code == "no-answer"

    (outcome,) = undo_run(result_path, catalogue).outcomes

    assert outcome.status == "failed" and outcome.code == "in-doubt"
    assert "could not tell whether this row was saved (no-answer)" in outcome.error


class StopsAfterSaving(FakeCatalogue):
    """A catalogue that saves the write of `stop_at`, then the loader is stopped hard
    before it hears the answer (as a kill after sending would leave it)."""

    stop_at = ""

    def write_resource(self, action, data, upload=None):
        saved = super().write_resource(action, data, upload)
        if saved.get("name") == self.stop_at:
            self.stop_at = ""
            raise KeyboardInterrupt
        return saved


@pytest.mark.parametrize("stopped_at", ["Made", "Link"])  # a create, a patch
def test_a_row_in_flight_when_a_run_was_killed_is_undone_after_the_resume(tmp_path, stopped_at):
    catalogue = StopsAfterSaving()
    package = catalogue.add_package(PACKAGE)
    catalogue.write_resource(
        "resource_create",
        {"package_id": package["id"], "name": "Link", "url": "https://example.com/l", **FIELDS},
    )
    before = resources(catalogue)
    batch = write_batch(tmp_path, *rows(tmp_path)[:2])
    result_path = tmp_path / "results.xlsx"
    catalogue.stop_at = stopped_at
    with pytest.raises(KeyboardInterrupt):
        run_batch(batch, catalogue, RunOptions(fold=False), result_path=result_path)
    resumed = run_batch(
        batch, catalogue, RunOptions(fold=False, resume=True), result_path=result_path
    )
    assert [o.status for o in resumed.outcomes] == ["done", "done"]

    undo = undo_run(result_path, catalogue)

    assert [(o.status, o.error) for o in undo.outcomes] == [("done", "")] * 2
    assert "''" not in " ".join(o.action for o in undo.outcomes)
    assert resources(catalogue) == before


def test_undo_names_each_field_that_differs_once(catalogue, tmp_path):
    result_path = tmp_path / "results.xlsx"
    run_batch(write_batch(tmp_path, *rows(tmp_path)[1:2]), catalogue, result_path=result_path)
    (link,) = [r for r in catalogue.package(PACKAGE)["resources"] if r["name"] == "Link"]
    catalogue.write_resource("resource_patch", {"id": link["id"], "url": "https://example.com/x"})

    (outcome,) = undo_run(result_path, catalogue).outcomes

    assert outcome.code == "changed-after-run"
    assert "changed after the run (url differs)" in outcome.error


def test_the_journal_reader_knows_every_action_the_planner_has():
    from loader.pipeline import journal
    from loader.pipeline.operations import Action

    assert {str(a) for a in Action} == journal._ACTIONS
