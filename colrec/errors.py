"""Errors that end a job with a one-line message instead of a traceback."""


class ColrecError(Exception):
    """A failure the user can act on; its message is printed as one line."""

    exit_code = 1


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
