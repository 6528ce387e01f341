"""The journal: what is on the disk before a request leaves, and what only in the kernel."""

from __future__ import annotations

import json
import threading

import pytest
from batches import operation as op
from fake_catalogue import FakeCatalogue

from loader.model import Outcome, Status
from loader.pipeline import journal as journal_module
from loader.pipeline.execute import execute
from loader.pipeline.journal import Journal, read_journal
from loader.pipeline.operations import Plan
from loader.pipeline.record import Recorder


class Disk:
    """Stands in for the disk: which journal lines a sync has put there."""

    def __init__(self, path):
        self.path = path
        self.syncs = 0
        self.lines_on_disk = 0

    def sync(self, _descriptor: int) -> None:
        self.syncs += 1
        self.lines_on_disk = len(self.path.read_text(encoding="utf-8").splitlines())

    def records(self) -> list[dict]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines[: self.lines_on_disk]]


@pytest.fixture
def disk(tmp_path, monkeypatch):
    disk = Disk(tmp_path / "run.journal.jsonl")
    monkeypatch.setattr(journal_module, "_sync_to_disk", disk.sync)
    return disk


class WatchedCatalogue(FakeCatalogue):
    """Notes, as each write arrives, which rows' `sent` records were already on the disk."""

    def __init__(self, disk: Disk):
        super().__init__()
        self.disk = disk
        self.durable_when_sent: list[list[int]] = []

    def write_resource(self, action, data, upload=None):
        sent = [r["rows"] for r in self.disk.records() if r["kind"] == "sent"]
        self.durable_when_sent.append(sorted(row for rows in sent for row in rows))
        return super().write_resource(action, data, upload)


def test_a_request_leaves_only_once_its_sent_record_is_on_the_disk(disk):
    catalogue = WatchedCatalogue(disk)
    (kept,) = catalogue.add_package("p1", resources=[{"name": "Kept"}])["resources"]
    plan = Plan([op(2, "create"), op(3, "noop", resource_id=kept["id"]), op(4, "create")], [])
    journal = Journal(disk.path)
    recorder = Recorder([2, 3, 4], journal)

    execute(plan, catalogue, recorder, fold=False)
    recorder.close("")
    journal.close()

    # each create found its own `sent` record on the disk when it arrived
    assert catalogue.durable_when_sent == [[2], [2, 4]]
    records = [json.loads(line) for line in disk.path.read_text().splitlines()]
    assert [r["rows"] for r in records if r["kind"] == "sent"] == [[2], [4]]  # none for row 3
    assert {r["row"]: r["status"] for r in records if r["kind"] == "outcome"} == {
        2: "done",
        3: "done",
        4: "done",
    }
    # one sync per request and one for the end, none per outcome; all of it on the disk
    assert disk.syncs == 3
    assert disk.lines_on_disk == len(records)


def test_a_kill_loses_no_written_line_and_a_resume_finds_the_unanswered_row_in_doubt(disk):
    journal = Journal(disk.path)
    journal.sent([op(2, "create")])
    journal.outcome(Outcome(2, Status.DONE, resource_id="r-2"))
    journal.sent([op(3, "create")])
    # killed here: no close, no end; the lines are in the kernel, which the file shows

    earlier = read_journal(disk.path)

    assert earlier.in_doubt == {3}
    assert earlier.outcomes[2].resource_id == "r-2"


def test_a_power_cut_loses_at_most_outcomes_whose_rows_a_resume_then_finds_in_doubt(disk):
    journal = Journal(disk.path)
    journal.sent([op(2, "create")])
    journal.outcome(Outcome(2, Status.DONE, resource_id="r-2"))
    # the power goes: only what a sync put on the disk is left
    disk.path.write_text("".join(json.dumps(r) + "\n" for r in disk.records()), encoding="utf-8")

    earlier = read_journal(disk.path)

    assert earlier.in_doubt == {2}  # looked up in the catalogue before anything is sent


def test_lanes_share_syncs_and_every_sent_record_is_on_the_disk_before_its_lane_goes_on(disk):
    journal = Journal(disk.path)
    durable: list[bool] = []
    lock = threading.Lock()

    def lane(first: int) -> None:
        for row in range(first, first + 50):
            journal.sent([op(row, "create")])
            on_disk = {r["rows"][0] for r in disk.records() if r["kind"] == "sent"}
            with lock:
                durable.append(row in on_disk)

    threads = [threading.Thread(target=lane, args=(n * 100,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()

    assert len(durable) == 200 and all(durable)
    assert journal.syncs == disk.syncs <= 200
