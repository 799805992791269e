"""The `layerloom` command line: subcommands over the same core API the window uses.

    layerloom templates                          # the templates, one a line
    layerloom new --template lenet5 -o net.json  # a project from a template
    layerloom summary net.json [--json]          # blocks, shapes, parameters, MACs, problems
    layerloom                                    # the editor window (help until it exists)

Each subcommand is one function registered with `@subcommand(name, help, configure)`; another part
of Layerloom adds its own the same way. Errors are one plain message on stderr, never a traceback:
exit status 2 for a wrong command line, 1 for a file or model that cannot be used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from layerloom.core.errors import LayerloomError

PROG = "layerloom"


class UsageError(LayerloomError):
    """The command line asks for something that does not exist (exit status 2)."""


@dataclass(frozen=True)
class Subcommand:
    """A registered subcommand: `configure(parser)` adds its arguments, `run(args)` returns the exit status."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}

# Modules holding more @subcommand functions (e.g. a `train` command next to the trainer), imported
# when the parser is built so that `layerloom` stays quick to start.
COMMAND_MODULES: tuple[str, ...] = ("layerloom.core.training.cli", "layerloom.core.doctor",
                                     "layerloom.core.export.cli", "layerloom.core.predict.cli")


def subcommand(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] | None = None):
    """Register the decorated `run(args) -> int` as `layerloom NAME`."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        SUBCOMMANDS[name] = Subcommand(name, help, configure or (lambda parser: None), run)
        return run

    return register


# --- templates ----------------------------------------------------------------------------------


@subcommand("templates", "list the project templates, one a line: name, then description")
def run_templates(args: argparse.Namespace) -> int:
    from layerloom.core.templates import templates

    rows = templates()
    width = max((len(name) for name, _ in rows), default=0)
    for name, description in rows:
        print(f"{name:<{width}}  {description}".rstrip())
    return 0


# --- new ----------------------------------------------------------------------------------------


def _configure_new(p: argparse.ArgumentParser) -> None:
    p.add_argument("--template", "-t", default="lenet5", metavar="NAME",
                   help="the template to start from (default: lenet5; see `layerloom templates`)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.json", help="the project file to create")
    p.add_argument("--force", action="store_true", help="overwrite FILE.json if it exists")


@subcommand("new", "create a project file from a template", _configure_new)
def run_new(args: argparse.Namespace) -> int:
    from layerloom.core.errors import ProjectError
    from layerloom.core.inference import infer
    from layerloom.core.project import save_project
    from layerloom.core.templates import load_template, template_path

    try:
        template_path(args.template)
    except ProjectError as err:
        raise UsageError(err.problems[0]) from None
    out = args.output
    if os.path.isdir(out):
        raise LayerloomError(f"{out} is a folder; give the name of the project file to create")
    if os.path.lexists(out) and not args.force:
        raise LayerloomError(f"{out} already exists; choose another name, or add --force to overwrite it")
    project = load_template(args.template)
    save_project(project, out)
    params = infer(project.graph).total_params
    print(f"Created {out} from the {args.template} template ({params:,} parameters).")
    return 0


# --- summary ------------------------------------------------------------------------------------


def _configure_summary(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.json", help="a project file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


@subcommand("summary", "the model as a table: block, type, output shape, parameters, MACs, problems "
            "(exit status 1 when the network has errors)", _configure_summary)
def run_summary(args: argparse.Namespace) -> int:
    from layerloom.core.project import load_project

    project = load_project(args.file)
    summary = summarize(project, args.file)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(format_summary(summary))
    errors = sum(1 for p in summary["problems"] if p["severity"] == "error")
    if errors:
        print(f"{PROG}: the network has {errors} error{'s' if errors != 1 else ''} (listed with the summary)",
              file=sys.stderr)
        return 1
    return 0


def summarize(project, file: str | None = None) -> dict[str, Any]:
    """The summary as plain data: project, blocks (in flow order), totals and problems."""
    from layerloom.core.inference import infer, parameter_memory

    graph = project.graph
    report = infer(graph)
    order = graph.topological_order()
    placed = set(order)  # once: a set per block made this quadratic (45 s for 32,000 blocks)
    order += [n.id for n in graph if n.id not in placed]
    blocks = []
    for nid in order:
        r = report[nid]
        blocks.append({
            "id": nid,
            "name": r.name,
            "type": r.type,
            "output_shape": list(r.output_shape) if r.output_shape is not None else None,
            "dtype": r.output.dtype if r.output is not None else None,
            "params": r.param_count if r.ok else None,
            "param_bytes": parameter_memory(r.param_count) if r.ok else None,
            "macs": r.macs if r.ok else None,
            "status": r.status,
            "error": r.error,
            "waiting_on": r.waiting_on,
            "warnings": list(r.warnings),
        })
    names = {n.id: n.name for n in graph}
    return {
        "project": {"name": project.name, "file": file, "data": project.data.to_dict(),
                    "training": project.training.to_dict()},
        "blocks": blocks,
        "totals": {"params": report.total_params, "param_bytes": parameter_memory(report.total_params),
                   "macs": report.total_macs, "blocks": len(blocks)},
        "problems": [{"severity": p.severity, "message": p.message, "block": names.get(p.node_id)}
                     for p in report.problems],
        "ok": report.ok,
    }


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _shape_cell(block: dict[str, Any]) -> str:
    from layerloom.core.blocks.spec import INT, fmt_shape

    if block["status"] == "waiting":
        return f"waiting on {block['waiting_on']}" if block["waiting_on"] else "waiting"
    if block["status"] == "error":
        return "error"
    text = fmt_shape(block["output_shape"])
    return f"{text} {block['dtype']}" if block["dtype"] == INT else text


def format_summary(summary: dict[str, Any]) -> str:
    """The table users know from Keras, with totals and the problems under it."""
    header = ("Block", "Type", "Output shape", "Parameters", "MACs")
    rows = [(b["name"], b["type"], _shape_cell(b), _count(b["params"]), _count(b["macs"]))
            for b in summary["blocks"]]
    totals = summary["totals"]
    total_row = (f"Total ({totals['blocks']} blocks)", "", "", _count(totals["params"]), _count(totals["macs"]))
    widths = [max(len(r[i]) for r in [header, *rows, total_row]) for i in range(len(header))]

    def line(cells) -> str:
        left = [c.ljust(w) for c, w in zip(cells[:3], widths[:3])]
        right = [c.rjust(w) for c, w in zip(cells[3:], widths[3:])]
        return "  ".join(left + right).rstrip()

    rule = len(line(header)) if rows else 40
    project = summary["project"]
    title = project["name"] or "Untitled project"
    out = [f"{title}" + (f" ({project['file']})" if project["file"] else "")]
    data, training = project["data"], project["training"]
    options = f" {json.dumps(data['options'], ensure_ascii=False)}" if data["options"] else ""
    out.append(f"Data: {data['source']}{options}")
    out.append(f"Training: {training['optimizer']}, lr {training['lr']:g}, {training['epochs']} epochs, "
               f"batch {training['batch_size']}")
    from layerloom.core.resources import size_text

    out += ["", line(header), "=" * rule, *(line(r) for r in rows), "-" * rule, line(total_row),
            f"Parameter memory: {size_text(totals['param_bytes'])} (float32 weights; training takes about 3 to 4 "
            "times that, with gradients and optimizer state)",
            "MACs are multiply-accumulates per sample; shapes leave out the batch."]
    if any(b["status"] != "ok" for b in summary["blocks"]):
        out.append("Blocks with an error, or waiting on one, are not counted in the totals.")
    out.append("")
    problems = summary["problems"]
    errors = [p["message"] for p in problems if p["severity"] == "error"]
    warnings = [p["message"] for p in problems if p["severity"] == "warning"]
    if not problems:
        out.append("No problems.")
    for label, items in (("Errors", errors), ("Warnings", warnings)):
        if items:
            out.append(f"{label} ({len(items)}):")
            out += [f"  - {m}" for m in items]
    return "\n".join(out)


# --- the window ---------------------------------------------------------------------------------


def _configure_open(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="a Layerloom project file (.json) or bundle (.layerloom); "
                        "without one, the window opens as with no command")


@subcommand("open", "open a project in the editor window", _configure_open)
def run_open(args: argparse.Namespace) -> int:
    if args.file is None:  # a desktop entry's `layerloom open %f` started with no file
        return open_window()
    if not os.path.exists(args.file):
        raise LayerloomError(f"{args.file}: no such file")
    return open_window(args.file)


def open_window(path: str | None = None) -> int:
    """Open the editor window, on the project at `path` if given.

    The editor provides `layerloom.gui.app.main(path=None) -> int`; until it exists this prints the
    help and says that the window is not available.
    """
    try:
        from layerloom.gui.app import main as gui_main
    except ModuleNotFoundError as err:
        if err.name not in ("layerloom.gui.app", "layerloom.gui"):
            raise LayerloomError(f"the window cannot start: the module {err.name!r} is missing") from None
        build_parser().print_help()
        print("\nThe editor window is not available in this version yet; use the commands above.")
        return 0
    return int(gui_main(path=path) or 0)


# --- the entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered subcommand."""
    import importlib

    from layerloom import __version__

    for module in COMMAND_MODULES:  # their @subcommand functions register themselves on import
        importlib.import_module(module)
    parser = argparse.ArgumentParser(prog=PROG, description="Design neural networks by drag and drop, train them live, "
                     "export them. Without a command, opens the editor window.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in SUBCOMMANDS.values():
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


if __name__ == "__main__":
    # `python -m layerloom.core.cli`: run the imported module's main, so that subcommands registered
    # by other modules (which import layerloom.core.cli) land in the same registry.
    from layerloom.core.cli import main as _main

    sys.exit(_main())
