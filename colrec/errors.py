"""Errors that end a job with a one-line message instead of a traceback."""

import re

# A quoted value in a message ('...' or "...", as repr writes them), and how much of it is shown:
# an error about a 1 MB field names the field, it does not echo it (to a terminal, to runs.error).
_QUOTED = re.compile(r"'(?:[^'\\]|\\.){81,}'" + r'|"(?:[^"\\]|\\.){81,}"')
SHOWN_CHARS = 80
MAX_MESSAGE_CHARS = 2000


def clip_values(message: str) -> str:
    """The message with every quoted value over SHOWN_CHARS cut to its start (and its length said)."""

    def clip(match: re.Match[str]) -> str:
        quoted = match.group(0)
        return f"{quoted[: SHOWN_CHARS + 1]}...{quoted[-1]} ({len(quoted) - 2:,} characters)"

    clipped = _QUOTED.sub(clip, message)
    return clipped if len(clipped) <= MAX_MESSAGE_CHARS else clipped[:MAX_MESSAGE_CHARS] + "..."


class ColrecError(Exception):
    """A failure the user can act on; its message is printed as one line."""

    exit_code = 1

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(clip_values(str(message)), *args)


class InputError(ColrecError):
    """Bad input data: the message names the file and line (or the row)."""


class DatabaseUnavailable(ColrecError):
    """The database cannot be reached."""


class Terminated(ColrecError):
    """The job got SIGTERM (a stopped container, a killed cron job): it unwinds like a failure, so
    nothing half-made is published and every LLM engine it started is shut down. Exit code 143."""

    exit_code = 143


class Busy(ColrecError):
    """Someone else holds the work (another refresh of the same dataset): nothing was done.
    Exit code 75 (EX_TEMPFAIL): cron wrappers can tell "try later" from a failure."""

    exit_code = 75
