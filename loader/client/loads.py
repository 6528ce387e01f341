"""A DataStore load as the catalogue reports it: which loader runs, and one typed status.

A CKAN catalogue loads tabular files into its DataStore with ckanext-xloader
or with DataPusher (or with neither); `status_show` lists the plugins, so the
client asks instead of assuming. Both report a resource's last load through a
`<loader>_status` action, in answers of slightly different shapes, and both
carry in `task_info` the job's own record, which for xloader holds the jobs'
API token (a sysadmin's). So the answer is read here, once, into a
`LoadStatus` that keeps only what a client needs; the answer itself is never
stored, logged or shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

XLOADER = "xloader"
DATAPUSHER = "datapusher"
LOADERS = (XLOADER, DATAPUSHER)  # in the order looked for among the plugins

# The states a load ends in; every other state means it is queued or under way.
COMPLETE, ERROR = "complete", "error"
FINISHED = (COMPLETE, ERROR)


def loader_of(extensions: Iterable[str]) -> str | None:
    """The DataStore loader among a catalogue's plugins (`status_show`'s `extensions`);
    None when it runs neither (or no DataStore)."""
    plugins = set(extensions)
    if "datastore" not in plugins:
        return None
    return next((name for name in LOADERS if name in plugins), None)


@dataclass(frozen=True)
class LoadStatus:
    """The last DataStore load of one resource, as its loader reports it."""

    state: str  # pending, submitting, running, running_but_viewable, complete or error
    job_id: str | None
    # when the job was queued and when it last changed, in the catalogue's clock (UTC,
    # ISO 8601 without a zone, as CKAN writes them); "" when the answer does not say
    submitted: str
    updated: str
    error: str = ""  # the loader's own reason, as it gave it ("" unless it failed)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def failed(self) -> bool:
        return self.state == ERROR

    def newer_than(self, moment: datetime | None) -> bool:
        """Whether the job was queued after `moment` (the catalogue's clock, UTC without
        a zone; None: any job is)."""
        if moment is None:
            return True
        queued = moment_of(self.submitted)
        return queued is not None and queued > moment


def moment_of(stamp: str | None) -> datetime | None:
    """A catalogue timestamp (`2026-01-02T10:00:12.5`, or with a space as xloader writes
    them) as a naive UTC datetime; None when it is not one."""
    try:
        moment = datetime.fromisoformat(str(stamp or "").strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def load_status(answer: dict[str, Any]) -> LoadStatus:
    """Read `xloader_status` or `datapusher_status` into a LoadStatus.

    The task (`status`, `job_id`, `last_updated`, `error`) is the catalogue's
    record of the last job it queued; `task_info`, once that job has started,
    is the job's own record. The job's own record decides when it is there:
    an earlier job that finishes after a new one was queued writes its end
    into the task (the job id staying the new one's), so a task saying
    `complete` while the new job has no record yet is a job still queued.
    """
    task_state = str(answer.get("status") or "")
    job_id = _text(answer.get("job_id")) or None
    updated = _text(answer.get("last_updated"))
    info = answer.get("task_info")
    if isinstance(info, dict) and info.get("status"):
        metadata = info.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        submitted = _text(metadata.get("task_created")) or _text(info.get("requested_timestamp"))
        state = str(info["status"])
        return LoadStatus(state, job_id, submitted or updated, updated, _reason(answer, state))
    if job_id and task_state in FINISHED:
        task_state = "pending"  # queued, not started: the end written is an earlier job's
    return LoadStatus(task_state, job_id, updated, updated, _reason(answer, task_state))


def _reason(answer: dict[str, Any], state: str) -> str:
    """Why the load failed, in the loader's words: xloader puts it in `error`;
    DataPusher leaves `error` for a failed submit and keeps the job's reason in
    `task_info.error.message`. Only the message is taken, nothing else."""
    if state != ERROR:
        return ""
    error = answer.get("error")
    if isinstance(error, str) and error.strip():
        return error.strip()
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"]).strip()
    info = answer.get("task_info")
    if isinstance(info, dict):
        job_error = info.get("error")
        if isinstance(job_error, dict) and job_error.get("message"):
            return str(job_error["message"]).strip()
        if isinstance(job_error, str):
            return job_error.strip()
    return ""


def _text(value: Any) -> str:
    return "" if value is None else str(value)
