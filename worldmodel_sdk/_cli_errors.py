"""How ``wmsdk`` reports errors: one line on stderr, exit status 2, no traceback.

A user error — a bad option, a missing file, a missing optional extra, a model or
file the SDK refuses — is printed as ``wmsdk: error: <what>; <what to do>``.
``--debug`` or ``WMSDK_DEBUG=1`` re-raises it so its traceback shows. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import typer

from .errors import WorldModelError

__all__ = [
    "EXTRAS",
    "CliError",
    "debug_requested",
    "extra_hint",
    "missing_extra",
    "one_line",
    "run_guarded",
]

USER_ERROR = 2
DEBUG_ENV = "WMSDK_DEBUG"

EXTRAS = {
    "gymnasium": "envs",
    "pettingzoo": "envs",
    "mpe2": "envs",
    "matplotlib": "envs",
    "tqdm": "envs",
    "optuna": "hpo",
    "stable_baselines3": "rl",
}
"""Top-level modules of the optional dependencies, and the extra that installs each."""

# typer may vendor its own click: take the classes from the exception it exports.
_UsageError = cast("type[Exception]", typer.BadParameter.__base__)
_ClickException = cast("type[Exception]", _UsageError.__base__)


class CliError(Exception):
    """A user error of the command line; its message says what was wrong and what to do."""


def extra_hint(module: str) -> str:
    """``needs the 'envs' extra (module 'mpe2' is not installed); install it with: ...``."""
    top = module.partition(".")[0]
    extra = EXTRAS[top]
    return (
        f"needs the {extra!r} extra (module {top!r} is not installed); "
        f"install it with: pip install 'worldmodel-sdk[{extra}]'"
    )


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The message for an import of an optional dependency that is not installed, else None."""
    top = (error.name or "").partition(".")[0]
    return f"this {extra_hint(top)}" if top in EXTRAS else None


def debug_requested(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """``--debug`` among the options (before a ``--``), or ``WMSDK_DEBUG`` set and not ``0``."""
    options = args[: args.index("--")] if "--" in args else args
    return "--debug" in options or environ.get(DEBUG_ENV, "0") not in ("", "0")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, newlines included, as one space."""
    return " ".join(text.split())


def _usage_message(error: Exception) -> str:
    show = getattr(error, "format_message", None)
    message = one_line(show() if callable(show) else str(error))
    ctx = getattr(error, "ctx", None)
    path = getattr(ctx, "command_path", "") or "wmsdk"
    return f"{message} (see '{path} --help')"


def _message(error: BaseException) -> str | None:
    """The one-line message of a user error, or None for anything else (a bug)."""
    if isinstance(error, _UsageError):
        return _usage_message(error)
    if isinstance(error, CliError | WorldModelError | _ClickException):
        return one_line(str(error))
    if isinstance(error, ModuleNotFoundError):
        return missing_extra(error)
    return None


def run_guarded(call: Callable[[], Any], debug: bool) -> int:
    """Run ``call`` (a click ``main`` in non-standalone mode) and return the exit status."""
    try:
        result = call()
    except KeyboardInterrupt:
        if debug:
            raise
        print("wmsdk: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            print(str(error), file=sys.stderr)
            return USER_ERROR
        message = _message(error)
        if message is None or debug:
            raise
        print(f"wmsdk: error: {message}", file=sys.stderr)
        return USER_ERROR
    return result if isinstance(result, int) else 0
