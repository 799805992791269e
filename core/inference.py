"""Shape inference: what every block outputs and costs, and what cannot work, in plain words.

    report = infer(graph)
    report[node_id].output_shape   # (6, 28, 28), batch left out
    report[node_id].param_count    # equals PyTorch's count
    report[node_id].macs           # multiply-accumulates per sample
    report[node_id].error          # None, or "Dense 'dense_1' got a 16×5×5 map; flatten it first (add Flatten)"

Inference is incremental: the first `infer(g)` attaches an Inferencer to the graph, which listens to
its change events and afterwards recomputes only what lies downstream of an edit. Rule results are
also cached by (block type, parameters, input shapes), shared between graphs.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from layerloom.core.blocks import BlockProblem, Inferred, TensorSpec, get_spec
from layerloom.core.graph import Graph
from layerloom.core.graph_parts import GraphEvent

OK, ERROR, WAITING = "ok", "error", "waiting"


@dataclass(frozen=True)
class NodeReport:
    """What inference found for one block."""

    node_id: str
    name: str
    type: str
    status: str  # "ok", "error" or "waiting" (an upstream block has a problem)
    output: TensorSpec | None = None
    param_count: int = 0
    macs: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    waiting_on: str | None = None  # name of the upstream block with the problem

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.output.shape if self.output is not None else None

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass(frozen=True)
class Problem:
    """One line of the problems list: severity "error" or "warning"; node_id None for the graph."""

    severity: str
    message: str
    node_id: str | None = None


class Report(Mapping[str, NodeReport]):
    """Inference results by node id, with the problems list and totals."""

    def __init__(self, nodes: dict[str, NodeReport], graph_problems: list[Problem]):
        self._nodes = nodes
        self._graph_problems = graph_problems

    def __getitem__(self, node_id: str) -> NodeReport:
        return self._nodes[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def problems(self) -> list[Problem]:
        """Every error, then every warning, graph-wide ones first."""
        errors = [p for p in self._graph_problems if p.severity == "error"]
        warnings = [p for p in self._graph_problems if p.severity == "warning"]
        for r in self._nodes.values():
            if r.error:
                errors.append(Problem("error", r.error, r.node_id))
            warnings.extend(Problem("warning", w, r.node_id) for w in r.warnings)
        return errors + warnings

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when the graph can be compiled."""
        return not self.errors and all(r.status == OK for r in self._nodes.values())

    @property
    def total_params(self) -> int:
        return sum(r.param_count for r in self._nodes.values() if r.status == OK)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self._nodes.values() if r.status == OK)


# --- the rule cache, shared by all graphs -----------------------------------------------------------

_RULE_CACHE: dict[tuple, Inferred | str] = {}
_RULE_CACHE_LIMIT = 8192


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _apply_rule(type_id: str, params: dict[str, Any], inputs: tuple[TensorSpec, ...]) -> Inferred | str:
    """The block's shape rule through the cache: an Inferred, or the problem as text."""
    key = (type_id, tuple((k, _freeze(v)) for k, v in params.items()), inputs)
    hit = _RULE_CACHE.get(key)
    if hit is not None:
        return hit
    try:
        result: Inferred | str = get_spec(type_id).infer(params, list(inputs))
    except BlockProblem as problem:
        result = str(problem)
    except OverflowError:  # sizes beyond what floating point arithmetic holds
        result = "has sizes too large to work out; give its parameters realistic values"
    if len(_RULE_CACHE) >= _RULE_CACHE_LIMIT:
        _RULE_CACHE.pop(next(iter(_RULE_CACHE)))
    _RULE_CACHE[key] = result
    return result


# --- the incremental inferencer ---------------------------------------------------------------------

_STRUCTURAL = {"node_added", "node_removed", "edge_added", "edge_removed"}


class Inferencer:
    """Keeps inference results of one graph up to date, recomputing only downstream of edits."""

    def __init__(self, graph: Graph):
        self._local: dict[str, NodeReport] = {}  # per-node results before the graph-wide checks
        self._dirty: set[str] = {n.id for n in graph}
        self._order: list[str] | None = None
        self._reach: tuple[set[str], set[str]] | None = None  # (from an Input, to an Output): the structure's
        self._graph_ref = weakref.ref(graph)
        self._unsubscribe = graph.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, ev: GraphEvent) -> None:
        graph = self._graph_ref()
        if graph is None:
            return
        if ev.kind in _STRUCTURAL:
            self._order = self._reach = None
        if ev.kind == "node_removed":
            self._local.pop(ev.node, None)
            self._dirty.discard(ev.node)
        elif ev.kind in ("node_moved", "nodes_moved"):
            return
        elif ev.node in graph:
            self._dirty.add(ev.node)
            self._dirty.update(graph.descendants(ev.node))

    def run(self, graph: Graph) -> Report:
        if self._order is None:
            self._order = graph.topological_order()
        order = self._order
        local = self._local
        for nid in order:
            if nid in self._dirty or nid not in local:
                local[nid] = self._infer_node(graph, nid, local)
        self._dirty.clear()
        if self._reach is None:
            self._reach = _reachability(graph)
        return _graph_checks(graph, order, local, self._reach)

    @staticmethod
    def _infer_node(graph: Graph, nid: str, done: dict[str, NodeReport]) -> NodeReport:
        node = graph.node(nid)
        spec = node.spec
        label = node.label()
        base = {"node_id": nid, "name": node.name, "type": node.type}
        ins = graph.in_edges(nid)
        if len(ins) < spec.min_inputs:
            if not ins:
                if node.type == "Output":
                    msg = f"{label} has nothing connected; connect the network's last layer to it"
                else:
                    msg = f"{label} has no input; connect a block to it"
            else:
                msg = f"{label} needs at least {spec.min_inputs} inputs (has {len(ins)}); connect another branch"
            return NodeReport(**base, status=ERROR, error=msg)
        inputs = []
        for e in ins:
            up = done.get(e.src)
            if up is None or up.output is None:
                blocker = up.waiting_on if up is not None and up.waiting_on else graph.node(e.src).name
                return NodeReport(**base, status=WAITING, waiting_on=blocker)
            inputs.append(up.output)
        too_big = _param_too_big(node.params)
        if too_big:
            return NodeReport(**base, status=ERROR, error=f"{label} {too_big}")
        result = _apply_rule(node.type, node.params, tuple(inputs))
        if isinstance(result, str):
            return NodeReport(**base, status=ERROR, error=f"{label} {result}")
        too_big = _result_too_big(result)
        if too_big:
            return NodeReport(**base, status=ERROR, error=f"{label} {too_big}")
        warnings = tuple(f"{label} {w}" for w in result.warnings)
        return NodeReport(**base, status=OK, output=result.output, param_count=result.params,
                          macs=result.macs, warnings=warnings)


# --- sizes PyTorch cannot hold ----------------------------------------------------------------------

INT64_MAX = 2**63 - 1  # the largest size, stride or count PyTorch takes
BYTES_PER_PARAM = 4  # float32


def _big(n: int) -> str:
    return f"{n:,}" if abs(n) < 10**15 else f"{n:.3g}"


def _param_too_big(params: dict[str, Any]) -> str | None:
    """The first whole-number parameter beyond PyTorch's int64, in words (None when all fit)."""
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else (value,)
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > INT64_MAX:
                return (f"{key} is {_big(v)}, more than PyTorch can take (at most {INT64_MAX:,}); "
                        f"give {key} a realistic value")
    return None


def _result_too_big(result: Inferred) -> str | None:
    shape = result.output.shape
    if any(s > INT64_MAX for s in shape) or result.output.numel > INT64_MAX:
        return (f"would output {_big(result.output.numel)} values per sample, more than a PyTorch tensor can hold; "
                "make the block smaller")
    if result.params > INT64_MAX:
        return f"would hold {_big(result.params)} parameters, more than PyTorch can count; make the block smaller"
    return None


def parameter_memory(params: int) -> int:
    """Bytes `params` float32 parameters take."""
    return params * BYTES_PER_PARAM


def memory_problem(report: Report) -> tuple[str, str] | None:
    """(node id, message) when the model's parameters alone need more memory than this computer has
    available: the message goes on the block with the largest share. None when they fit (or it is unknown)."""
    from layerloom.core.resources import available_memory, size_text

    need = parameter_memory(report.total_params)
    if need < 2**28:  # 256 MB fit anywhere Layerloom runs; no need to ask the system
        return None
    available = available_memory()
    if available is None or need <= available:
        return None
    biggest = max((r for r in report.values() if r.ok), key=lambda r: r.param_count)
    share = parameter_memory(biggest.param_count)
    label = f"{biggest.type} '{biggest.name}'"
    return biggest.node_id, (f"{label} holds {_big(biggest.param_count)} parameters ({size_text(share)}); the "
                             f"model's parameters need {size_text(need)} of memory but this computer has "
                             f"{size_text(available)} available — make {label} smaller")


def _reachability(graph: Graph) -> tuple[set[str], set[str]]:
    """The blocks reached from an Input (or a GAN's Noise), and those that lead to an Output; they change
    only with the structure (blocks or wires added or removed), so the Inferencer keeps them until then."""
    sources = [n.id for n in graph if n.type in ("Input", "Noise")]  # a GAN's generator starts at Noise
    outputs = [n.id for n in graph if n.type == "Output"]
    return (_closure(sources, lambda n: (e.dst for e in graph.out_edges(n))),
            _closure(outputs, lambda n: (e.src for e in graph.in_edges(n))))


def _graph_checks(graph: Graph, order: list[str], local: dict[str, NodeReport],
                  reach: tuple[set[str], set[str]] | None = None) -> Report:
    """Checks that need the whole graph: reachability, unused blocks, missing Inputs or Outputs."""
    nodes = {n.id: n for n in graph}
    inputs = [nid for nid, n in nodes.items() if n.type == "Input"]
    outputs = [nid for nid, n in nodes.items() if n.type == "Output"]
    graph_problems: list[Problem] = []
    if not inputs:
        graph_problems.append(Problem("error", "the network has no Input block; add one where the data enters"))
    if not outputs:
        graph_problems.append(Problem("error", "the network has no Output block; add one after the last layer"))

    reach_from_input, leads_to_output = reach if reach is not None else _reachability(graph)

    reports: dict[str, NodeReport] = {}
    placed = set(order)
    ordered = order if len(order) == len(nodes) else order + [n for n in nodes if n not in placed]
    for nid in ordered:
        r = local.get(nid)
        node = nodes[nid]
        if r is None:  # only in a cycle, which the graph refuses to make
            r = NodeReport(nid, node.name, node.type, ERROR, error=f"{node.label()} is part of a cycle")
        extra: list[str] = []
        # an Output waiting on an upstream problem stays grey ("waiting"): that problem is the one to fix
        if node.type == "Output" and nid not in reach_from_input and r.status == OK:
            r = _replace(r, status=ERROR, error=f"{node.label()} cannot be reached from any Input; "
                         "connect it to the network")
        elif node.type != "Output" and nid not in leads_to_output and outputs:
            if node.type == "Input":
                extra.append(f"{node.label()} is not used by any Output")
            else:
                extra.append(f"{node.label()} does not lead to any Output, so it is not part of the model")
        if node.type in ("Softmax", "Sigmoid") and r.status == OK:
            extra.extend(_activation_before_loss(graph, node, nodes))
        if extra:
            r = _replace(r, warnings=r.warnings + tuple(extra))
        reports[nid] = r
    if any(n.type == "Noise" for n in nodes.values()):
        _gan_checks(graph, reports, graph_problems)
    report = Report(reports, graph_problems)
    memory = memory_problem(report)
    if memory is not None:
        nid, message = memory
        reports[nid] = _replace(reports[nid], warnings=(*reports[nid].warnings, message))
    return report


def _gan_checks(graph: Graph, reports: dict[str, NodeReport], graph_problems: list[Problem]) -> None:
    """A GAN's two networks (core/gan.py): each problem on its block, or on the graph."""
    from layerloom.core.gan import gan_layout, gan_problems

    layout = gan_layout(graph)
    fake = reports.get(layout.fake) if layout.fake is not None else None
    if fake is not None and fake.status == ERROR and graph.node(layout.fake).params.get("loss") not in ("mse", "l1"):
        reports[layout.fake] = _replace(fake, error=f"{graph.node(layout.fake).label()} gives the generator's "
                                        "samples: set its loss to mse (the GAN recipe trains the generator through "
                                        "the discriminator, not through this loss)")
    for nid, message in gan_problems(graph, reports):
        r = reports.get(nid) if nid is not None else None
        if r is None:
            graph_problems.append(Problem("error", message))
        elif r.status != ERROR:
            reports[nid] = _replace(r, status=ERROR, error=message)


def _activation_before_loss(graph: Graph, node, nodes) -> list[str]:
    pairs = {"Softmax": "cross_entropy", "Sigmoid": "bce_with_logits"}
    for e in graph.out_edges(node.id):
        dst = nodes[e.dst]
        if dst.type == "Output" and dst.params.get("loss") == pairs[node.type]:
            return [f"{node.label()} feeds {dst.label()}, whose {pairs[node.type]} loss applies "
                    f"{node.type.lower()} itself; remove the {node.type} to train on raw scores"]
    return []


def _replace(r: NodeReport, **changes) -> NodeReport:
    from dataclasses import replace

    return replace(r, **changes)


def _closure(start: list[str], step) -> set[str]:
    seen = set(start)
    stack = list(start)
    while stack:
        for nxt in step(stack.pop()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


_INFERENCERS: weakref.WeakKeyDictionary[Graph, Inferencer] = weakref.WeakKeyDictionary()


def infer(graph: Graph) -> Report:
    """Infer every block of `graph`; repeated calls recompute only what edits touched."""
    inferencer = _INFERENCERS.get(graph)
    if inferencer is None:
        inferencer = _INFERENCERS[graph] = Inferencer(graph)
    return inferencer.run(graph)


def clear_cache() -> None:
    """Forget cached rule results (benchmarks measure a cold start with it)."""
    _RULE_CACHE.clear()
