"""The errors the library raises; every face (API, CLI, TAXII) turns them into its own shape.

Each error says *what* went wrong and *where* (object id or index, field, line), because an analyst
fixing a 50,000-object bundle needs the place, not just the fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class AccordError(Exception):
    """Base of every expected error. `status` is the HTTP status the faces map it to."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **where: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.where = {k: v for k, v in where.items() if v is not None}

    def __str__(self) -> str:
        if not self.where:
            return self.detail
        place = ", ".join(f"{k} {v}" for k, v in self.where.items())
        return f"{self.detail} ({place})"


class InvalidInput(AccordError):
    """The input is malformed or breaks a rule; nothing of it was stored."""

    status = 422
    title = "Invalid input"


class NotFound(AccordError):
    """Does not exist *for this viewer*: hidden and absent look the same (DESIGN habit 3)."""

    status = 404
    title = "Not found"


class Conflict(AccordError):
    """Contradicts what is stored (e.g. a different object under an existing id and modified)."""

    status = 409
    title = "Conflict"


class Forbidden(AccordError):
    """The viewer may see the thing but may not do this to it (only ever for visible things)."""

    status = 403
    title = "Forbidden"


class Unauthenticated(AccordError):
    status = 401
    title = "Authentication required"


class TooManyAttempts(AccordError):
    status = 429
    title = "Too many failed log-ins"


class TooLarge(AccordError):
    status = 413
    title = "Request too large"


@dataclass
class Problem:
    """One problem found in a batch: collected so a bundle reports all of them, then refused whole."""

    detail: str
    where: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        place = ", ".join(f"{k} {v}" for k, v in self.where.items())
        return f"{self.detail} ({place})" if place else self.detail


class BatchRefused(InvalidInput):
    """A bundle/batch had problems: all are listed, none of the batch was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        super().__init__(f"{first.detail}{more}", **first.where)
        self.problems = problems
