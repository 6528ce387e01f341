"""The page: a Flask app over one Workspace.

Views only read the request, ask the Workspace, and render a template (or
redirect back to the batch's page); state changes are POSTs that the guard
has checked. Templates are Jinja with autoescaping, so nothing from a batch,
the catalogue or the editor reaches the page unescaped.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from loader.serve import guard, library
from loader.serve.jobs import Job
from loader.serve.library import CellProblem, CheckedBatch
from loader.serve.paging import JobView, Paging
from loader.serve.workspace import BatchEntry, DueReport, Workspace

WORKSPACE = "bcdc_workspace"  # the app's extension holding its Workspace

# The views; their endpoints are "page.<view>", as the templates name them.
page = Blueprint("page", __name__)


def create_app(workspace: Workspace, secret: str | None = None) -> Flask:
    """The page's app; every request must carry `secret` (a random one when not given)."""
    app = Flask(__name__)
    app.config["SECRET"] = secret or secrets.token_urlsafe(32)
    app.extensions[WORKSPACE] = workspace
    guard.install(app, app.config["SECRET"])
    app.register_blueprint(page)
    return app


def _ws() -> Workspace:
    """The Workspace of the app serving this request."""
    workspace: Workspace = current_app.extensions[WORKSPACE]
    return workspace


@page.get("/")
def index() -> str:
    _ws().access.check_user()
    return _index_page()


@page.post("/drop")
def drop() -> ResponseReturnValue:
    batch = request.files.get("batch")
    if batch is None or not batch.filename:
        return _index_page("Choose a batch file (a workbook or CSV file) first."), 400
    entry = _ws().drop(batch, [f for f in request.files.getlist("files") if f.filename])
    return _to_batch_page(entry.id)


@page.post("/token")
def set_token() -> BaseResponse:
    _ws().access.set_token(request.form.get("api_key", ""))
    return redirect(_back(), code=303)


@page.post("/token/forget")
def forget_token() -> BaseResponse:
    _ws().access.forget_token()
    return redirect(_back(), code=303)


@page.get("/catalogue")
def from_catalogue() -> str:
    _ws().access.check_user()
    return _catalogue_page()


@page.post("/export")
def export() -> ResponseReturnValue:
    ws = _ws()
    names = _names(request.form.get("names", ""))
    problem = _why_not_read(ws, names)
    entry: BatchEntry | None = None
    if not problem:
        by_organization = request.form.get("what") == "organizations"
        try:
            entry = ws.export(
                organizations=names if by_organization else [],
                packages=[] if by_organization else names,
            )
        except library.LoaderError as error:
            problem = error.message
    if entry is None:
        return _catalogue_page(export_problem=problem), 400
    return _to_batch_page(entry.id, "check")


@page.post("/due")
def due() -> ResponseReturnValue:
    ws = _ws()
    names = _names(request.form.get("organizations", ""))
    problem = _why_not_read(ws, names)
    report: DueReport | None = None
    if not problem:
        try:
            report = ws.due(names)
        except library.LoaderError as error:
            problem = error.message
    if report is None:
        return _catalogue_page(due_problem=problem), 400
    return redirect(url_for("page.due_page", report_id=report.id), code=303)


@page.get("/due/<report_id>")
def due_page(report_id: str) -> str:
    ws = _ws()
    report = ws.due_reports.get(report_id)
    if report is None:
        abort(404)
    return render_template("due.html", ws=ws, report=report)


@page.get("/batch/<batch_id>")
def batch_page(batch_id: str) -> str:
    """The batch's page; `page` picks which rows its tables draw, `only=problems`
    keeps the check table to the rows with problems."""
    ws = _ws()
    entry = _batch_or_404(batch_id)
    if entry.checked is None and not entry.unreadable:
        ws.check(entry)
    ws.access.check_user()
    return _batch_page(entry)


@page.post("/batch/<batch_id>/check")
def check_again(batch_id: str) -> BaseResponse:
    entry = _batch_or_404(batch_id)
    _ws().check(entry)
    return _to_batch_page(entry.id, "check")


@page.post("/batch/<batch_id>/options")
def choose_options(batch_id: str) -> ResponseReturnValue:
    """The sheet to read and the schema to check against (--sheet, --schema)."""
    ws = _ws()
    entry = _batch_or_404(batch_id)
    with ws.lock:
        refusal = ws.choose(
            entry, request.form.get("sheet", ""), request.form.get("schema", "bundled")
        )
    if refusal:
        if entry.checked_at is None:
            ws.check(entry)  # the page shows the batch as it is
        return _batch_page(entry, refusal=refusal), 400
    return _to_batch_page(entry.id, "check")


@page.get("/batch/<batch_id>/checked.xlsx")
def checked_workbook(batch_id: str) -> Response:
    entry = _batch_or_404(batch_id)
    if entry.checked_workbook is None or not entry.checked_workbook.exists():
        abort(404)
    return _download(entry.checked_workbook, f"{entry.path.stem}-checked.xlsx")


@page.get("/batch/<batch_id>/batch.xlsx")
def batch_file(batch_id: str) -> Response:
    """A batch the page made (an export, a due workbook), to keep and edit."""
    entry = _batch_or_404(batch_id)
    if not entry.made or not entry.path.exists():
        abort(404)
    return _download(entry.path, entry.name)


@page.post("/batch/<batch_id>/<kind>")
def start(batch_id: str, kind: str) -> ResponseReturnValue:
    if kind not in ("preview", "run"):
        abort(404)
    ws = _ws()
    entry = _batch_or_404(batch_id)
    with ws.lock:  # a double click must not start two jobs
        ws.check(entry)  # the file may have changed since the page was drawn
        refusal = _why_not(ws, entry, kind) or _take_jobs(entry, kind)
        if not refusal:
            ws.start(entry, kind)
    if refusal:
        return _batch_page(entry, refusal=refusal), 409
    return _to_batch_page(entry.id, kind)


@page.post("/batch/<batch_id>/<kind>/stop")
def stop(batch_id: str, kind: str) -> BaseResponse:
    _job_or_404(batch_id, kind).request_stop()  # a job that has just ended stays ended
    return _to_batch_page(batch_id, kind)


@page.get("/batch/<batch_id>/<kind>.json")
def job_status(batch_id: str, kind: str) -> Response:
    job = _job_or_404(batch_id, kind)
    since, first = request.args.get("since", 0, type=int), request.args.get("first", 0, type=int)
    return jsonify(job.snapshot(since, first, request.args.get("last", None, type=int)))


@page.get("/batch/<batch_id>/<kind>.xlsx")
def job_workbook(batch_id: str, kind: str) -> Response:
    job = _job_or_404(batch_id, kind)
    if job.running or job.result_path is None or not job.result_path.exists():
        abort(404)
    return _download(job.result_path, job.result_path.name)


def _batch_or_404(batch_id: str) -> BatchEntry:
    entry = _ws().get(batch_id)
    if entry is None:
        abort(404)
    return entry


def _job_or_404(batch_id: str, kind: str) -> Job:
    job = _ws().job(batch_id, kind)
    if job is None:
        abort(404)
    return job


def _to_batch_page(batch_id: str, section: str = "") -> BaseResponse:
    """See Other: the batch's page, at `section` when one is given."""
    target = url_for("page.batch_page", batch_id=batch_id) + (f"#{section}" if section else "")
    return redirect(target, code=303)


def _index_page(drop_problem: str = "") -> str:
    ws = _ws()
    return render_template(
        "index.html",
        ws=ws,
        folder_batches=ws.folder_batches(),
        dropped=ws.dropped_batches(),
        drop_problem=drop_problem,
    )


def _catalogue_page(export_problem: str = "", due_problem: str = "") -> str:
    """The export and due report forms; a form sent back keeps what was typed."""
    ws = _ws()
    return render_template(
        "catalogue.html",
        ws=ws,
        form=request.form,
        export_problem=export_problem,
        due_problem=due_problem,
        reports=sorted(ws.due_reports.values(), key=lambda r: r.made_at, reverse=True),
    )


def _names(typed: str) -> list[str]:
    """Dataset or organization names as typed: one a line, or apart by commas or spaces."""
    names = [name for name in re.split(r"[\s,]+", typed) if name]
    return list(dict.fromkeys(names))


def _why_not_read(ws: Workspace, names: list[str]) -> str:
    """Why an export or due report cannot be asked for ("" when it can)."""
    if not ws.catalogue_url:
        return "No catalogue was chosen: start bcdc-loader serve with --ckan URL|test|prod."
    if not names:
        return "Type at least one name."
    return ""


def _batch_page(entry: BatchEntry, refusal: str = "") -> str:
    ws = _ws()
    page_asked = request.args.get("page", 1, type=int)
    only_problems = request.args.get("only") == "problems"
    jobs = {kind: ws.job(entry.id, kind) for kind in ("preview", "run")}
    return render_template(
        "batch.html",
        ws=ws,
        entry=entry,
        view=CheckView.of(entry.checked, page_asked, only_problems) if entry.checked else None,
        preview=jobs["preview"] and JobView.of(jobs["preview"], page_asked),
        run=jobs["run"] and JobView.of(jobs["run"], page_asked),
        busy=ws.busy(),
        refusal=refusal,
        jobs_limits=(library.JOBS_DEFAULT, library.JOBS_LIMIT),
    )


def _why_not(ws: Workspace, entry: BatchEntry, kind: str) -> str:
    """Why a preview or run may not start now ("" when it may)."""
    if not ws.catalogue_url:
        return "No catalogue was chosen: start bcdc-loader serve with --ckan URL|test|prod."
    if not ws.access.has_token:
        return "Enter your API token first (step 2)."
    if not entry.ready:
        return "The batch has problems: fix them in the file, then check it again."
    if ws.busy():
        return "A preview or run is under way: wait for it to finish, or stop it."
    if kind == "run" and ws.production and request.form.get("confirm") != "yes":
        return "Tick the box to confirm writing to the production catalogue."
    return ""


def _take_jobs(entry: BatchEntry, kind: str) -> str:
    """The run's workers (--jobs) from the form, within the command line's limits; says
    why not ("" when taken)."""
    if kind != "run":
        return ""
    typed = request.form.get("jobs", str(library.JOBS_DEFAULT)).strip()
    low, high = library.JOBS_DEFAULT, library.JOBS_LIMIT
    if not typed.isdigit() or not low <= int(typed) <= high:
        return f"Workers: a whole number from {low} to {high} (datasets worked on at once)."
    entry.jobs = int(typed)
    return ""


@dataclass
class CheckView:
    """A checked batch laid out for the page: each problem on its cell, its row or the
    file, and one page of its rows (all of them, or those with problems)."""

    total: int
    ready: int
    bad: int
    bad_rows: set[int]
    rows: list[tuple[int, dict[str, str]]]  # the rows drawn: one page
    paging: Paging
    only_problems: bool
    file_problems: list[CellProblem]
    row_problems: dict[int, list[CellProblem]]
    cell_problems: dict[tuple[int, str], list[CellProblem]]
    # warnings about a file's content: shown on their cells, the rows still run
    cell_warnings: dict[tuple[int, str], list[CellProblem]]

    @classmethod
    def of(cls, checked: CheckedBatch, page: int = 1, only_problems: bool = False) -> CheckView:
        columns = set(checked.columns)
        file_problems: list[CellProblem] = []
        row_problems: dict[int, list[CellProblem]] = {}
        cell_problems: dict[tuple[int, str], list[CellProblem]] = {}
        for p in checked.problems:
            if p.row is None:
                file_problems.append(p)
            elif p.column is not None and p.column in columns:
                cell_problems.setdefault((p.row, p.column), []).append(p)
            else:  # the whole row, or a column the batch lacks
                row_problems.setdefault(p.row, []).append(p)
        cell_warnings: dict[tuple[int, str], list[CellProblem]] = {}
        for w in checked.warnings:
            if w.row is not None and w.column is not None:
                cell_warnings.setdefault((w.row, w.column), []).append(w)
        bad_rows = {p.row for p in checked.problems if p.row is not None}
        listed = [r for r in checked.rows if r[0] in bad_rows] if only_problems else checked.rows
        paging = Paging.of(len(listed), page)
        return cls(
            total=len(checked.rows),
            ready=len(checked.rows) - len(bad_rows),
            bad=len(bad_rows),
            bad_rows=bad_rows,
            rows=paging.window(listed),
            paging=paging,
            only_problems=only_problems,
            file_problems=file_problems,
            row_problems=row_problems,
            cell_problems=cell_problems,
            cell_warnings=cell_warnings,
        )


# A path of this page: "/" then path characters, never "//" at the start. Nothing
# else is let through: browsers drop tabs and line breaks from an address and read
# a backslash as "/", so "/" + tab + "/host" would lead to another site.
_OUR_PAGE = re.compile(r"/(?![/])[A-Za-z0-9._~!$&'()*+,;=:@%/?#-]*")


def _back() -> str:
    """Where a token form returns to: the page it was sent from, if it is one of ours."""
    target = request.form.get("next", "")
    return target if _OUR_PAGE.fullmatch(target) else "/"


def _download(path: Path, name: str) -> Response:
    return send_file(
        path,
        as_attachment=True,
        download_name=name,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
