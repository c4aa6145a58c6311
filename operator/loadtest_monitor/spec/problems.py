"""How spec problems reach a user: `field: fix` lines, capped, in status, Events and the CLI."""

from __future__ import annotations

from collections.abc import Sequence

#: Shown in status, Events and the CLI: enough to fix several mistakes at once, never a wall of text.
MAX_PROBLEMS = 5
MAX_MESSAGE_CHARS = 1024


class SpecError(ValueError):
    """Spec values the operator cannot use. `field` and `message` are the first problem's (the path a
    user sees in the YAML, and how to fix it); `problems` holds every one found; the text shows at
    most MAX_PROBLEMS of them."""

    def __init__(self, field_path: str, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems) or ((field_path, message),)
        self.field = field_path
        self.message = message
        super().__init__(format_problems(self.problems))

    def lines(self) -> list[str]:
        """One line per problem, capped, for the CLI."""
        return problem_lines(self.problems)


def problem_lines(problems: Sequence[tuple[str, str]]) -> list[str]:
    """`field: fix` lines, at most MAX_PROBLEMS, then `and N more`; each on one line."""
    shown = [f"{path}: {' '.join(text.split())}" for path, text in problems[:MAX_PROBLEMS]]
    more = len(problems) - len(shown)
    return shown + ([f"and {more} more"] if more else [])


def format_problems(problems: Sequence[tuple[str, str]]) -> str:
    """The problems on one line (status, Events): `field: fix; field: fix; and N more`, at most
    MAX_MESSAGE_CHARS."""
    text = "; ".join(problem_lines(problems))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."
