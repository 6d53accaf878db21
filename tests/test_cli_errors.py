"""One CLI wrapper: a StreetwatchError ends a command with one line on stderr and its own exit code."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streetwatch.casework.dispatch.config import DispatchConfigError
from streetwatch.casework.states import IllegalTransitionError
from streetwatch.cli.errors import streetwatch_typer
from streetwatch.core.errors import StreetwatchError
from streetwatch.store.queries import NotFoundError
from streetwatch.store.users import UserError
from streetwatch.store.writes import ResultsRejectedError

ERRORS = [
    pytest.param(UserError("unknown role 'janitor'"), 2, id="bad-input"),
    pytest.param(DispatchConfigError("destinations file not found:\n  x.yaml"), 2, id="config"),
    pytest.param(NotFoundError("violation 9 not found"), 3, id="not-found"),
    pytest.param(IllegalTransitionError("filed", "handle", 9), 4, id="conflict"),
    pytest.param(ResultsRejectedError("the database refused the results"), 1, id="failure"),
]


@pytest.mark.parametrize(("error", "code"), ERRORS)
def test_an_error_gives_one_line_and_its_exit_code(error: StreetwatchError, code: int) -> None:
    app = streetwatch_typer()
    sub = streetwatch_typer()
    app.add_typer(sub, name="sub")

    @app.command()
    def top() -> None:
        raise error

    @sub.command()
    def nested() -> None:
        raise error

    for args in (["top"], ["sub", "nested"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == error.exit_code == code, result.output
        lines = result.output.strip().splitlines()
        assert lines == [f"error: {' '.join(str(error).split())}"], result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback


def test_other_exceptions_are_not_swallowed() -> None:
    app = streetwatch_typer()

    @app.command()
    def broken() -> None:
        raise KeyError("a bug")

    @app.command()
    def other() -> None:
        pass

    result = CliRunner().invoke(app, ["broken"])
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)
