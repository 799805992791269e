"""The block registry: every block type by its id."""

from __future__ import annotations

import difflib

from layerloom.core.blocks.spec import CATEGORIES, BlockSpec
from layerloom.core.errors import GraphError

_REGISTRY: dict[str, BlockSpec] = {}


def register(spec: BlockSpec) -> BlockSpec:
    """Add a block type; its id must be new."""
    if spec.type_id in _REGISTRY:
        raise ValueError(f"block type {spec.type_id!r} is registered twice")
    _REGISTRY[spec.type_id] = spec
    return spec


def get_spec(type_id: str) -> BlockSpec:
    """The spec of `type_id`, or a GraphError that suggests the closest known type."""
    try:
        return _REGISTRY[type_id]
    except KeyError:
        close = difflib.get_close_matches(str(type_id), _REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise GraphError(f"unknown block type {type_id!r}{hint}") from None


def has_spec(type_id: str) -> bool:
    return type_id in _REGISTRY


def all_specs() -> list[BlockSpec]:
    """Every block, in palette order (by category, then registration order)."""
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(_REGISTRY.values(), key=lambda s: order[s.category])
