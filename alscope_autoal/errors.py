"""Errors that come from the user's input rather than from a bug.

The CLI prints a `UserError` as one line and exits with code 2; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake the user can fix: the message says what to do."""


class DataError(UserError):
    """A dataset file is missing or unreadable."""


class DamagedResults(UserError):
    """Result files under a job's final name that do not read back. One line like any user error, but exit code 1
    (as for failed jobs): the input was right, the files on disk are not."""

    exit_code = 1
