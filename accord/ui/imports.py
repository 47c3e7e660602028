"""Bringing intelligence in from the browser: the "check these values" box and file upload.

An upload goes the way every import goes (`Accord.import_file`: detect, read, prepare, store in one
transaction, recorded as a job): the file is saved under the data directory, its job row written,
and the import runs after the answer is sent; the job's page shows its progress (polled by
static/accord.js) and then its report. Progress is kept in this process's memory because the
import's own transaction holds SQLite's write lock: another process shows only "running".
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Annotated, Any

from fastapi import BackgroundTasks, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from accord import jobs
from accord.app import Accord
from accord.errors import AccordError, InvalidInput
from accord.ingest import FORMATS, run
from accord.ingest.detect import detect, open_input
from accord.ingest.tabular import parse_column_map
from accord.intel.tlp import TLP
from accord.members.model import Permission, Viewer
from accord.policy import Share
from accord.ui.i18n import N_
from accord.ui.render import UIState, page, redirect, render, ui_router, ui_state, wants_json
from accord.web.api import POLICY, AppDep, JSONBytes, MemberDep, _need, _tlp_param

router = ui_router()
MAX_LOOKUP_TEXT = 2_000_000
_SEPARATORS = re.compile(r"[\s,;]+")


# --- check these values ----------------------------------------------------------------------------


@router.get("/lookup", openapi_extra=POLICY)
def lookup_form(request: Request, viewer: MemberDep) -> Response:
    return render(request, "lookup.html", {"values": "", "results": None, "error": None}, section="lookup")


@router.post("/lookup", openapi_extra=POLICY)
def lookup(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    values: Annotated[str, Form(max_length=MAX_LOOKUP_TEXT)] = "",
) -> Response:
    """Which of these values (one a line, or separated by spaces, commas or semicolons) are known,
    and from whom: exact, inside a network, parent domain; only what the viewer may see."""
    wanted = list(dict.fromkeys(v for v in _SEPARATORS.split(values) if v))
    try:
        if not wanted:
            raise InvalidInput("give at least one value", field="values")
        results = app.lookup(viewer, wanted)
    except InvalidInput as exc:
        if wants_json(request):
            raise
        data = {"values": values, "results": None, "error": str(exc)}
        return render(request, "lookup.html", data, status=422, section="lookup")
    return page(
        request,
        "lookup.html",
        {"results": results},
        extra={"values": values, "error": None},
        section="lookup",
    )


# --- upload ----------------------------------------------------------------------------------------


def _recent_jobs(app: Accord, viewer: Viewer) -> list[dict[str, Any]]:
    with app.db.read() as conn:
        return [jobs.describe(r) for r in jobs.list_for(conn, viewer, 20)]


def _upload_form(request: Request, app: Accord, viewer: Viewer, error: str | None, status: int) -> Response:
    data = {
        "formats": FORMATS,
        "tlps": [t.value for t in TLP],
        "jobs": _recent_jobs(app, viewer),
        "error": error,
    }
    return render(request, "upload.html", data, status=status, section="imports")


@router.get("/imports", openapi_extra=POLICY)
def upload_form(request: Request, viewer: MemberDep, app: AppDep) -> Response:
    _need(viewer, Permission.INTEL_WRITE)
    return _upload_form(request, app, viewer, None, 200)


@router.post("/imports", openapi_extra=POLICY)
async def upload(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    background: BackgroundTasks,
    file: Annotated[UploadFile, File()],
    format: Annotated[str, Form(max_length=10)] = "",
    tlp: Annotated[str, Form(max_length=20)] = "",
    share_with: Annotated[str, Form(max_length=10_000)] = "",
    map: Annotated[str, Form(max_length=200)] = "",
    source: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Check what can be checked now (permission, format, TLP, audience, column map), save the
    file, record its job, and answer with the job's page; the import runs after the answer."""
    _need(viewer, Permission.INTEL_WRITE)
    path = None
    try:
        default_tlp = _tlp_param(tlp or None)
        column_map = parse_column_map(map) if map.strip() else None
        specs = [s.strip() for s in re.split(r"[\n,]+", share_with) if s.strip()]
        share = await run_in_threadpool(app.resolve_share, viewer, specs)
        path, size = await _save(file, app)
        name = os.path.basename(file.filename or "") or "upload"
        fmt = format or await run_in_threadpool(_detect, path, name)
        run.reader(fmt)  # an unknown format is refused here, before a job is recorded
    except AccordError as exc:
        if path is not None:
            os.unlink(path)
        if wants_json(request):
            raise
        return await run_in_threadpool(_upload_form, request, app, viewer, str(exc), exc.status)
    what = source.strip() or name
    job_id = await run_in_threadpool(_start_job, app, viewer, what, size)
    state = ui_state(request)
    state.progress[job_id] = [0, size]
    background.add_task(
        _import, state, app, viewer, path, job_id, fmt, default_tlp, share,
        column_map, what,
    )  # fmt: skip
    if wants_json(request):
        return JSONBytes({"job": job_id}, status_code=202)
    return redirect(f"/ui/imports/{job_id}")


async def _save(file: UploadFile, app: Accord) -> tuple[str, int]:
    """The uploaded file copied under the data directory (imports read files); refused if empty."""
    folder = os.path.join(app.settings.data_dir, "uploads")
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix="ui-upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > app.settings.max_body_bytes:
                    raise InvalidInput(
                        f"the file is larger than {app.settings.max_body_bytes} bytes", field="file"
                    )
                out.write(chunk)
        if size == 0:
            raise InvalidInput("the file is empty", field="file")
    except BaseException:
        os.unlink(path)
        raise
    return path, size


def _detect(path: str, name: str) -> str:
    with open_input(path) as fp:
        head = fp.read(64 * 1024)
    return detect(head, name)


def _start_job(app: Accord, viewer: Viewer, what: str, size: int) -> int:
    assert viewer.user_id is not None and viewer.org_id is not None
    with app.db.write() as conn:
        return jobs.create(
            conn, kind="import", what=what, user_id=viewer.user_id, org_id=viewer.org_id, total=size,
            status="running",
        )  # fmt: skip


def _import(
    state: UIState,
    app: Accord,
    viewer: Viewer,
    path: str,
    job_id: int,
    fmt: str,
    default_tlp: TLP | None,
    share: Share,
    column_map: dict[str, int] | None,
    what: str,
) -> None:
    """The import itself (after the answer was sent). `import_file` ends the job with its report
    or its refusal; anything that fails before it could is recorded on the job here."""

    def progress(done: int) -> None:
        counts = state.progress.get(job_id)
        if counts is not None:
            counts[0] += done

    try:
        app.import_file(
            viewer, path, fmt=fmt, default_tlp=default_tlp, share=share, column_map=column_map,
            progress=progress, what=what, job_id=job_id,
        )  # fmt: skip
    except Exception as exc:  # recorded on the job, which is where the user looks
        with app.db.write() as conn:
            if jobs.get_row(conn, job_id)["status"] == "running":
                jobs.finish(conn, job_id, "failed", None, str(exc))
    finally:
        state.progress.pop(job_id, None)
        os.unlink(path)


@router.get("/imports/{job_id}", openapi_extra=POLICY)
def job_page(request: Request, job_id: int, viewer: MemberDep, app: AppDep) -> Response:
    """An import (or feed run) of the viewer's organisation: progress while it runs, then its report.
    Another organisation's job: 404."""
    with app.db.read() as conn:
        row = jobs.visible_to(conn, viewer, job_id)
    job = jobs.describe(row)
    counts = ui_state(request).progress.get(job_id)
    done = counts[0] if counts else (row["total"] if row["status"] == "done" else None)
    job["progress"] = {"done": done, "total": row["total"]}
    return page(request, "job.html", {"job": job}, extra={"labels": STATUS_LABELS}, section="imports")


STATUS_LABELS = {
    "queued": N_("Waiting to start"),
    "running": N_("Importing"),
    "done": N_("Done"),
    "failed": N_("Refused: nothing was stored"),
    "interrupted": N_("Interrupted: nothing was stored"),
}
