"""RFC 9457 problem details for every error the HTTP faces return: what went wrong and where."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord.errors import AccordError, BatchRefused

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": 'Bearer realm="accord", Basic realm="accord"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(AccordError)
    async def _accord(_req: Request, exc: AccordError) -> JSONResponse:
        extra: dict[str, Any] = {}
        if exc.where:
            extra["where"] = exc.where
        if isinstance(exc, BatchRefused):
            extra["problems"] = [{"detail": p.detail, "where": p.where} for p in exc.problems]
        return problem(exc.status, exc.title, exc.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        problems: list[dict[str, Any]] = []
        for e in exc.errors():
            field = ".".join(str(p) for p in e.get("loc", ()))
            problems.append({"detail": e.get("msg", "invalid"), "where": {"field": field}})
        first: dict[str, Any] = (
            problems[0] if problems else {"detail": "invalid request", "where": {"field": ""}}
        )
        where: dict[str, Any] = first["where"]
        return problem(
            422, "Invalid input", f"{first['detail']} ({where['field']})", where=where, problems=problems
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
