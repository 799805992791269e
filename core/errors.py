"""Exceptions of the core, each carrying a message a user can read."""

from __future__ import annotations


class LayerloomError(Exception):
    """Base of every error Layerloom reports to a user in plain words."""


class GraphError(LayerloomError, ValueError):
    """An edit the graph refuses (unknown block, cycle, taken port, bad name...)."""


class ParamError(GraphError):
    """A block parameter value that is out of range or of the wrong type."""


class CompileError(LayerloomError):
    """The graph cannot be turned into a model; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("the model cannot be built:\n" + "\n".join(f"  - {p}" for p in self.problems))


class ProjectError(LayerloomError):
    """A project file that cannot be read; `problems` lists every problem with its place."""

    def __init__(self, path: str | None, problems: list[str]):
        self.path = path
        self.problems = list(problems)
        where = f"{path}: " if path else ""
        if len(self.problems) == 1:
            text = f"{where}{self.problems[0]}"
        else:
            text = f"{where}{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)
