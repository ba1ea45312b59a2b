"""Re-export of colrec.errors, so store code and jobs share one hierarchy."""

from colrec.errors import ColrecError, DatabaseUnavailable, InputError

__all__ = ["ColrecError", "DatabaseUnavailable", "InputError"]
