"""The project's exceptions.

Every error a user can cause (a malformed architecture string, a missing data
directory, a wrong flag combination, a diverged run) is raised as a subclass of
`EnasError` at the boundary where it is detected, with a message that names the
bad token / path / flag, what was expected, and how to fix it. `EnasError` is a
`ValueError`, so callers that already catch `ValueError` keep working.
"""


class EnasError(ValueError):
    """Base class of every user-facing enas_tf2 error."""


class ArcError(EnasError):
    """A malformed or inconsistent architecture string."""


class DataError(EnasError):
    """Missing, malformed or unreachable training data."""


class FlagError(EnasError):
    """An invalid flag value or a contradictory combination of flags."""


class TrainingError(EnasError):
    """Training cannot continue (for example a non-finite loss)."""
