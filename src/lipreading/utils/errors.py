"""Turn the errors a user can fix into one clear sentence instead of a long traceback."""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class UserError(ValueError):
    """Base of the errors a user can fix (bad input file, config, checkpoint); printed as one line."""


class ConfigError(UserError):
    """A configuration that cannot work (wrong type, impossible combination)."""


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable or does not fit the model."""


USER_ERRORS = (UserError, FileNotFoundError)


def _user_error(error: BaseException) -> BaseException | None:
    """The first user-fixable error in ``error``'s cause chain (Hydra wraps them)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, USER_ERRORS):
            return error
        error = error.__cause__ or error.__context__
    return None


def friendly_errors(main: F) -> F:
    """Print a user-fixable error as ``error: <message>`` and exit 1.

    Set ``LIPREADING_TRACEBACK=1`` to see the full traceback as well.
    """

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - re-raised unless it is a known user error
            cause = _user_error(e)
            if cause is None or os.environ.get("LIPREADING_TRACEBACK") == "1":
                raise
            print(f"error: {cause}", file=sys.stderr)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
