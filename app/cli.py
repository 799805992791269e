"""The `layerloom` command: the console entry point over every registered subcommand.

    layerloom                                    # the editor window
    layerloom open [FILE]                        # the window on a project or a .layerloom bundle
    layerloom templates | new | summary          # core/cli.py
    layerloom train | export | predict           # core/training/cli.py, core/export/cli.py, core/predict/cli.py
    layerloom doctor [--check]                   # app/doctor.py
    python -m layerloom …  or  python -m layerloom.app …   # the same without the console script

The subcommands register themselves with `@subcommand` (core/cli.py) when their module is imported; this
module imports them when the parser is built, so `layerloom` with no command opens the window without
loading them. Errors are one plain message on stderr, never a traceback: exit status 2 for a wrong command
line, 1 for a file or model that cannot be used, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from layerloom.core import cli as commands  # the registry: read at call time (tests swap it)
from layerloom.core.cli import PROG, UsageError, subcommand
from layerloom.core.errors import LayerloomError

# Modules holding more @subcommand functions (core's next to what they run, the doctor here), imported
# when the parser is built so that `layerloom` stays quick to start.
COMMAND_MODULES: tuple[str, ...] = ("layerloom.core.training.cli", "layerloom.app.doctor",
                                     "layerloom.core.export.cli", "layerloom.core.predict.cli")


# --- the window ---------------------------------------------------------------------------------


def _configure_open(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="a Layerloom project file (.json) or bundle (.layerloom); "
                        "without one, the window opens as with no command")


@subcommand("open", "open a project in the editor window", _configure_open)
def run_open(args: argparse.Namespace) -> int:
    """`layerloom open [FILE]`: the window, on FILE when given."""
    if args.file is None:  # a desktop entry's `layerloom open %f` started with no file
        return open_window()
    if not os.path.exists(args.file):
        raise LayerloomError(f"{args.file}: no such file")
    return open_window(args.file)


def open_window(path: str | None = None) -> int:
    """Open the editor window (gui/app.py), on the project at `path` if given; the exit status."""
    try:
        from layerloom.gui.app import main as gui_main
    except ModuleNotFoundError as err:  # e.g. PySide6 is not installed: the command line still works
        raise LayerloomError(f"the window cannot start: the module {err.name!r} is missing") from None
    return int(gui_main(path=path) or 0)


# --- the entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered subcommand."""
    from layerloom import __version__

    for module in COMMAND_MODULES:  # their @subcommand functions register themselves on import
        importlib.import_module(module)
    parser = argparse.ArgumentParser(prog=PROG, description="Design neural networks by drag and drop, train them live, "
                     "export them. Without a command, opens the editor window.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in commands.SUBCOMMANDS.values():
        p = subs.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(run=cmd.run)
    return parser


def _tolerant_output() -> None:
    """Never fail on a character the terminal cannot show (×, —): write a replacement instead."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 bad file or model, 2 wrong usage)."""
    _tolerant_output()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if not argv:
            return open_window()
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exit_:  # --help, --version (0), or a usage error argparse already printed (2)
            return exit_.code if isinstance(exit_.code, int) else 2
        if getattr(args, "run", None) is None:
            build_parser().print_help()
            return 0
        return int(args.run(args) or 0)
    except UsageError as err:
        _error(str(err))
        return 2
    except LayerloomError as err:
        _error(str(err))
        return 1
    except BrokenPipeError:  # `layerloom templates | head -1`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as err:  # one sentence from core/errors_text.py; a bug is the only "unexpected error"
        from layerloom.core.errors_text import describe, is_bug

        if not is_bug(err):
            _error(describe(err))
            return 1
        if os.environ.get("LAYERLOOM_DEBUG"):
            raise
        _error(f"{describe(err)} (set LAYERLOOM_DEBUG=1 to see where it happened)")
        return 1


def _error(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)

