"""Domain errors: one message a user can act on, raised at the boundary of each part.

The command line prints ``str(error)`` on one line and exits non-zero; the service maps them to 4xx,
except ``OnlineStoreError``, a 503: the caller did nothing wrong and may try again.
"""


class RetainError(Exception):
    """A problem the user can fix; its message says what is wrong and how to fix it."""

    exit_code = 2


class ConfigError(RetainError):
    """The configuration or the home folder is missing, unreadable or invalid."""


class DataError(RetainError):
    """Input data is missing, corrupt or does not follow the expected schema."""


class NotReadyError(RetainError):
    """A step was run before the step it depends on (for example materialize before apply)."""


class OnlineStoreError(RetainError):
    """The online feature store cannot be reached or read now; trying again shortly may work."""
