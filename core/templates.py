"""The project templates as projects: their names and descriptions, and a fresh Project from one.

    from layerloom.core.templates import load_template, templates
    for name, description in templates(): ...
    project = load_template("lenet5")

The files themselves are data in `layerloom.resources` (found through importlib.resources, wherever
Layerloom is installed); `core/templates_build.py` generates them.
"""

from __future__ import annotations

import difflib
import json
from importlib.resources.abc import Traversable

from layerloom.core.errors import ProjectError
from layerloom.resources import TEMPLATE_ORDER, template_file, template_names

__all__ = ["TEMPLATE_ORDER", "load_template", "template_names", "template_path", "templates"]


def templates() -> list[tuple[str, str]]:
    """(name, one-line description) of every template."""
    out = []
    for name in template_names():
        try:
            meta = json.loads(template_file(name).read_text(encoding="utf-8")).get("meta", {})
            description = str(meta.get("description", ""))
        except (ValueError, AttributeError, OSError):
            description = "(this template file is damaged)"
        out.append((name, description))
    return out


def template_path(name: str) -> Traversable:
    """The template file called `name` (a Traversable; a pathlib.Path in a normal install).

    ProjectError when there is no such template, with the closest name and the list of names.
    """
    names = template_names()
    if name not in names:
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ProjectError(None, [f"there is no template named {name!r}{hint} (templates: {', '.join(names)})"])
    return template_file(name)


def load_template(name: str):
    """A new Project from the template called `name`."""
    from layerloom.core.project import Project

    path = template_path(name)
    return Project.loads(path.read_bytes(), f"template {name}")
