"""Client errors as the domain sees them: what is wrong, where, and the HTTP status it deserves.

`app.api.errors` turns a `BadRequest` into an RFC 9457 problem response; nothing here knows FastAPI.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    location: str
    message: str
    beat: int | None = None
    sample: int | None = None


MAX_DESCRIBED_PROBLEMS = 20


class BadRequest(Exception):
    """A request that cannot be served as sent: the problems described, and how many more.

    At most `MAX_DESCRIBED_PROBLEMS` are described; `more` counts the rest, so that a body with a
    million bad samples costs a count, not a million messages.
    """

    def __init__(self, status: int, title: str, problems: list[Problem], more: int = 0) -> None:
        self.status, self.title = status, title
        self.problems = problems[:MAX_DESCRIBED_PROBLEMS]
        self.more = more + len(problems) - len(self.problems)
        super().__init__(f"{title}: " + "; ".join(f"{p.location}: {p.message}" for p in problems))
