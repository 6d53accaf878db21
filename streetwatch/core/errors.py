"""The root of streetwatch's own errors, and what each kind means to a caller.

Every error class of ours derives from :class:`StreetwatchError` and says, as class attributes,
the HTTP status the API answers it with (``http_status``) and the exit code a command ends with
(``exit_code``). The API maps them in one exception handler (``streetwatch.api.app``), the CLI
in one wrapper (``streetwatch.cli.errors``); routes and commands just let them rise.

The classes keep their built-in base too (``ValueError``, ``LookupError``, ...), so code that
catches those still catches ours.

Exit codes follow the shell's habits: 1 for a failure at run time, 2 for a bad argument, input
or configuration file (as a usage error), 3 for something named that does not exist, 4 for a
conflict with the current state, 5 for a refused permission.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_FORBIDDEN = 5


class StreetwatchError(Exception):
    """Base of streetwatch's errors: a message for people, plus how to report it.

    Attributes:
        exit_code: What a CLI command exits with when this error ends it.
        http_status: The HTTP status an API request that raised it is answered with
            (the body is ``{"detail": str(error)}``, as FastAPI's own errors).
    """

    exit_code: ClassVar[int] = EXIT_FAILURE
    http_status: ClassVar[int] = 500


class BadInputError(StreetwatchError):
    """The caller's input is malformed or out of range (HTTP 422, exit 2)."""

    exit_code: ClassVar[int] = EXIT_BAD_INPUT
    http_status: ClassVar[int] = 422


class MissingError(StreetwatchError):
    """What the caller named does not exist (HTTP 404, exit 3)."""

    exit_code: ClassVar[int] = EXIT_NOT_FOUND
    http_status: ClassVar[int] = 404


class ConflictError(StreetwatchError):
    """The request does not fit the current state, e.g. someone else got there first (HTTP 409, exit 4)."""

    exit_code: ClassVar[int] = EXIT_CONFLICT
    http_status: ClassVar[int] = 409


class ForbiddenError(StreetwatchError):
    """The caller may not do this (HTTP 403, exit 5)."""

    exit_code: ClassVar[int] = EXIT_FORBIDDEN
    http_status: ClassVar[int] = 403


class ConfigurationError(StreetwatchError):
    """A configuration file or setting cannot be used (HTTP 500: the server's fault; exit 2)."""

    exit_code: ClassVar[int] = EXIT_BAD_INPUT
    http_status: ClassVar[int] = 500


class ProcessingError(StreetwatchError):
    """Work failed at run time: a file that will not decode, a peer that will not answer (HTTP 500, exit 1)."""
