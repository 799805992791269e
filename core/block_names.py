"""What a block may be called: a Python name (it becomes the attribute of the compiled model that holds the
block's module and the prefix of its parameters, `conv2d_1.weight`), not a Python keyword nor an attribute
of nn.Module, at most MAX_NAME characters. Being unique within its graph is the Graph's own check.

    name_problem("conv2d_1")   # None
    name_problem("forward")    # "the name 'forward' is reserved in Python or PyTorch; choose another"
"""

from __future__ import annotations

import keyword
import re

# Attributes of nn.Module / fx.GraphModule: a block named like one would shadow it in the model.
RESERVED_NAMES = frozenset(
    """
    T_destination add_module add_submodule apply bfloat16 block_nodes buffers call_super_init
    children code compile cpu cuda delete_all_unused_submodules delete_submodule double dump_patches
    eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule graph half
    input_names ipu load_state_dict meta modules mtia named_buffers named_children named_modules
    named_parameters output_names parameters print_readable recompile register_backward_hook
    register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ self set_extra_state
    set_submodule shape_env share_memory state_dict to to_empty to_folder train training type xpu zero_grad
    """.split()
)
# A leading letter: names starting with _ would clash with nn.Module's private attributes (_modules, _code...).
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
MAX_NAME = 64


def name_problem(name) -> str | None:
    """None if `name` follows the rules of a block's name, else why not in plain words."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        return (f"the name {name!r} must start with a letter and hold only letters, digits and _ "
                "(it becomes a Python name in the model)")
    if len(name) > MAX_NAME:
        return f"the name {name!r} is longer than {MAX_NAME} characters"
    if keyword.iskeyword(name) or name in RESERVED_NAMES:
        return f"the name {name!r} is reserved in Python or PyTorch; choose another"
    return None
