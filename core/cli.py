"""The `layerloom` subcommands over core: their registry, and the ones about projects and templates.

    layerloom templates                          # the templates, one a line
    layerloom new --template lenet5 -o net.json  # a project from a template
    layerloom summary net.json [--json]          # blocks, shapes, parameters, MACs, problems

Each subcommand is one function registered with `@subcommand(name, help, configure)`; another part of
Layerloom adds its own the same way, next to what it runs (core/training/cli.py, core/export/cli.py,
core/predict/cli.py, app/doctor.py). The entry point that parses the command line and turns errors into
one plain message on stderr is app/cli.py: exit status 2 for a UsageError, 1 for a file or model that
cannot be used.
"""

from __future__ import annotations

import argparse
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
    from layerloom.core.gan import gan_layout

    layout = gan_layout(graph)
    if layout is not None:  # a GAN: which network each block is in
        for block in blocks:
            block["network"] = layout.network_of(block["id"])
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


def _gan_line(blocks: list[dict], training: dict) -> str:
    """A GAN's two networks, their parameters and how they are trained against each other."""
    from layerloom.core.settings import TrainingSettings

    s = TrainingSettings.from_dict(training, [])  # the settings a file leaves out at their defaults
    counts = {net: sum(b["params"] or 0 for b in blocks if b.get("network") == net)
              for net in ("generator", "discriminator")}
    return (f"A GAN: the generator has {counts['generator']:,} parameters (lr {s.lr:g}), the discriminator "
            f"{counts['discriminator']:,} (discriminator_lr {s.discriminator_lr:g}); they take turns: "
            f"d_steps {s.d_steps}, g_steps {s.g_steps}, Adam β1 {s.beta1:g}.")


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
    if any("network" in b for b in summary["blocks"]):
        out.append(_gan_line(summary["blocks"], training))
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
