"""What a block may become in place (Replace With…): the types of its kind with the same ports, its name
after the swap and which parameters it keeps. `edits.ReplaceBlock` makes the change.

    replacements("RNN")                       # ["LSTM", "GRU"]
    swap_problem(graph, node_id, "Conv2d")    # "RNN 'rnn' cannot become a Conv2d: …", or None
    swapped_name(graph, node_id, "LSTM")      # "lstm" for a block named "rnn"; a name of your own stays
    carried_params(node, "LSTM")              # every parameter LSTM also has, the rest at LSTM's defaults
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from layerloom.core.blocks import get_spec
from layerloom.core.errors import ParamError

# Types that take the same wires and the same kind of tensor in and out, so swapping one for another keeps
# the network whole (Conv1d and Conv2d do not: they read tensors of different ranks).
SWAP_GROUPS: tuple[tuple[str, ...], ...] = (
    ("RNN", "LSTM", "GRU"),
    ("ReLU", "LeakyReLU", "ELU", "GELU", "Tanh", "Sigmoid"),
    ("MaxPool1d", "AvgPool1d"),
    ("MaxPool2d", "AvgPool2d"),
    ("Add", "Multiply"),
    ("BatchNorm", "LayerNorm"),
)


def replacements(type_id: str) -> list[str]:
    """The types a block of `type_id` may become (not itself), in palette order; [] for none."""
    for group in SWAP_GROUPS:
        if type_id in group:
            return [t for t in group if t != type_id]
    return []


def swap_problem(graph, node_id: str, new_type: str) -> str | None:
    """None if the block can become `new_type` in place, else why not in plain words naming it."""
    node = graph.node(node_id)
    new = get_spec(new_type)
    label, a = node.label(), _a(new_type)
    if new_type == node.type:
        return f"{label} is already {a}"
    for edge in graph.edges:
        if edge.dst == node_id and new.port(edge.dst_port, output=False) is None:
            return f"{label} cannot become {a}: {a} has no input '{edge.dst_port}' for its wire"
        if edge.src == node_id and new.port(edge.src_port, output=True) is None:
            return f"{label} cannot become {a}: {a} has no output '{edge.src_port}' for its wire"
    for port in new.inputs:
        wires = sum(1 for e in graph.in_edges(node_id) if e.dst_port == port.name)
        if wires > 1 and not port.multi:
            return f"{label} cannot become {a}: its input '{port.name}' takes one wire, not {wires}"
    if new_type not in replacements(node.type):
        kinds = ", ".join(replacements(node.type)) or "no other type"
        return f"{label} cannot become {a}: a block can only be replaced by one of its kind ({kinds})"
    return None


def _a(type_id: str) -> str:
    """`an LSTM`, `a GRU`, `an Output`, `a ReLU`: the article as the type's name is read out (an acronym
    letter by letter)."""
    acronym = type_id[:2].isupper()
    an = type_id[0] in "AEIOU" or (acronym and type_id[0] in "FHLMNRSX")
    return f"{'an' if an else 'a'} {type_id}"


def swapped_name(graph, node_id: str, new_type: str) -> str:
    """The block's name after becoming `new_type`: a name made from its type ("rnn", "rnn_2") follows the
    new type ("lstm", "lstm_2", or the next free one); a name the user gave stays."""
    node = graph.node(node_id)
    old_base, new_base = node.spec.name_base, get_spec(new_type).name_base
    made = re.fullmatch(re.escape(old_base) + r"(_\d+)?", node.name)
    if made is None:
        return node.name
    wanted = new_base + (made.group(1) or "")
    return wanted if graph.check_name(wanted, node_id) is None else graph.unique_name(new_base)


def carried_params(node, new_type: str) -> dict[str, Any]:
    """The new type's parameters: each one the block has too, where its value is valid there; the rest at
    the new type's defaults."""
    spec = get_spec(new_type)
    values = spec.defaults()
    for name, pspec in spec.param_map.items():
        if name in node.params:
            with contextlib.suppress(ParamError):  # not valid for the new type: its default stays
                values[name] = pspec.coerce(node.params[name], node.label())
    return values
