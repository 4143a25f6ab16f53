"""Errors a user can fix by changing their input.

The CLI turns an `InputError` into one line on stderr and exit code 2 (never a traceback);
library callers can catch it like any `ValueError`.
"""


class InputError(ValueError):
    """Bad input from the user: unreadable file, wrong image mode or size, mismatched checkpoint."""


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/Inf loss; the message names where, and the last good checkpoint is kept."""
