"""Client errors as the domain sees them: what is wrong, where, and the HTTP status it deserves.

`app.errors` turns a `BadRequest` into an RFC 9457 problem response; nothing here knows FastAPI.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    location: str
    message: str
    beat: int | None = None
    sample: int | None = None


class BadRequest(Exception):
    """A request that cannot be served as sent, with every problem found in it."""

    def __init__(self, status: int, title: str, problems: list[Problem]) -> None:
        self.status, self.title, self.problems = status, title, problems
        super().__init__(f"{title}: " + "; ".join(f"{p.location}: {p.message}" for p in problems))
