"""Errors that end a job with a one-line message instead of a traceback."""


class ColrecError(Exception):
    """A failure the user can act on; its message is printed as one line."""


class InputError(ColrecError):
    """Bad input data: the message names the file and line (or the row)."""


class DatabaseUnavailable(ColrecError):
    """The database cannot be reached."""
