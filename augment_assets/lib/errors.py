"""Errors a user can act on: each message names the file, line or column and what to do."""


class InputError(ValueError):
    """Bad input data or configuration (a missing file, a malformed line, a wrong column)."""
