"""The table of ATen operations → Layerloom blocks that the import walk dispatches to: one method
`op_<name>` per operation (conv, linear, pooling, activations, normalisation, embedding, RNN/LSTM/GRU, add,
multiply, concatenate, flatten, reshape, permute, and the pass-throughs), each checking what the block can
express and raising `Unsupported` with the reason when it cannot.

To bring in one more operation: add `op_<aten name>(self, node, *args)` to `Converter`, build the block with
`self.add(node, type_id, params, inputs, weights)`.
"""

from __future__ import annotations

import contextlib
import math

from layerloom.core.export.import_walk import Unsupported, Value, Walk


class Converter(Walk):
    """The walk with its table of operations: `Converter(program, name).run()` fills `graph` and `state`."""

    def _alias(self, x) -> Value:
        return self.block_input(x)

    # pass-through operations
    def op_contiguous(self, node, x, *a, **k):
        return self._alias(x)

    op_clone = op_alias = op_detach = op_lift_fresh_copy = op_contiguous

    def op_zeros(self, node, *a, **k):
        return Value("zeros")

    op_new_zeros = op_zeros

    def op__assert_tensor_metadata(self, node, *a, **k):
        return Value("unsupported", label="an assertion")

    op_sym_size = op__assert_scalar = op__assert_tensor_metadata

    # convolutions
    def _conv(self, node, n, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        w = self.tensor(weight)
        b = self.tensor(bias)
        params = {"out_channels": int(w.shape[0]), "kernel_size": _size(list(w.shape[2:])),
                  "stride": _size(stride, n), "padding": padding if isinstance(padding, str) else _size(padding, n),
                  "dilation": _size(dilation, n), "groups": int(groups), "bias": b is not None}
        weights = {"weight": w, **({"bias": b} if b is not None else {})}
        return self.add(node, f"Conv{n}d", params, [x], weights)

    def op_conv1d(self, node, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        self.block_input(x)
        return self._conv(node, 1, x, weight, bias, stride, padding, dilation, groups)

    def op_conv2d(self, node, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        self.block_input(x)
        return self._conv(node, 2, x, weight, bias, stride, padding, dilation, groups)

    def op_conv_transpose2d(self, node, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                            dilation=1):
        import torch

        if groups != 1 or _size(dilation, 2) != 1:
            raise Unsupported("uses groups or dilation, which Layerloom's ConvTranspose2d does not have")
        w = self.tensor(weight)
        b = self.tensor(bias)
        if b is None:  # a transposed convolution without bias is one with a zero bias
            b = torch.zeros(w.shape[1], dtype=w.dtype)
        params = {"out_channels": int(w.shape[1]), "kernel_size": _size(list(w.shape[2:])),
                  "stride": _size(stride, 2), "padding": _size(padding, 2),
                  "output_padding": _size(output_padding, 2)}
        return self.add(node, "ConvTranspose2d", params, [x], {"weight": w, "bias": b})

    # dense and embedding
    def op_linear(self, node, x, weight, bias=None):
        self.block_input(x)
        if len(self.shape(x)) - 1 > 2:
            raise Unsupported("is applied to a tensor of more than 2 dimensions per sample; flatten it first")
        w, b = self.tensor(weight), self.tensor(bias)
        weights = {"weight": w, **({"bias": b} if b is not None else {})}
        return self.add(node, "Dense", {"out_features": int(w.shape[0]), "bias": b is not None}, [x], weights)

    def op_embedding(self, node, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
        self.block_input(indices)
        w = self.tensor(weight)
        if padding_idx not in (-1, None):
            self.notes.append(f"{self.label(node)}: padding_idx={padding_idx} only changes training; imported "
                              "without it")
        return self.add(node, "Embedding", {"num_embeddings": int(w.shape[0]), "embedding_dim": int(w.shape[1])},
                        [indices], {"weight": w})

    # pooling
    def _pool(self, node, kind, n, x, kernel, stride=(), padding=0):
        self.block_input(x)
        stride = None if stride in ((), [], None) or _size(stride, n) == _size(kernel, n) else _size(stride, n)
        return self.add(node, f"{kind}Pool{n}d", {"kernel_size": _size(kernel, n), "stride": stride,
                                                   "padding": _size(padding, n)}, [x])

    def op_max_pool2d(self, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
        if _size(dilation, 2) != 1 or ceil_mode:
            raise Unsupported("uses dilation or ceil_mode, which Layerloom's pooling does not have")
        return self._pool(node, "Max", 2, x, kernel, stride, padding)

    def op_max_pool1d(self, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
        if _size(dilation, 1) != 1 or ceil_mode:
            raise Unsupported("uses dilation or ceil_mode, which Layerloom's pooling does not have")
        return self._pool(node, "Max", 1, x, kernel, stride, padding)

    def op_avg_pool2d(self, node, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                      divisor_override=None):
        if ceil_mode or not count_include_pad or divisor_override is not None:
            raise Unsupported("uses ceil_mode, count_include_pad=False or divisor_override")
        return self._pool(node, "Avg", 2, x, kernel, stride, padding)

    def op_avg_pool1d(self, node, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True):
        if ceil_mode or not count_include_pad:
            raise Unsupported("uses ceil_mode or count_include_pad=False")
        return self._pool(node, "Avg", 1, x, kernel, stride, padding)

    def op_adaptive_avg_pool2d(self, node, x, output_size):
        self.block_input(x)
        return self.add(node, "AdaptiveAvgPool2d", {"output_size": _size(output_size, 2)}, [x])

    def op_mean(self, node, x, dims=None, keepdim=False, dtype=None):
        self.block_input(x)
        rank = len(self.shape(x))
        dims = sorted(d % rank for d in (dims if isinstance(dims, list | tuple) else [dims]))
        if keepdim or rank < 3 or dims != list(range(2, rank)):
            raise Unsupported("takes a mean Layerloom has no block for (GlobalAvgPool averages all positions)")
        return self.add(node, "GlobalAvgPool", {}, [x])

    # activations
    def _act(self, node, type_id, x, **params):
        self.block_input(x)
        return self.add(node, type_id, params, [x])

    def op_relu(self, node, x):
        return self._act(node, "ReLU", x)

    op_relu_ = op_relu

    def op_tanh(self, node, x):
        return self._act(node, "Tanh", x)

    def op_sigmoid(self, node, x):
        return self._act(node, "Sigmoid", x)

    def op_leaky_relu(self, node, x, negative_slope=0.01):
        return self._act(node, "LeakyReLU", x, negative_slope=float(negative_slope))

    op_leaky_relu_ = op_leaky_relu

    def op_elu(self, node, x, alpha=1.0, scale=1, input_scale=1):
        if scale != 1 or input_scale != 1:
            raise Unsupported("is a scaled ELU (SELU), which has no block")
        return self._act(node, "ELU", x, alpha=float(alpha))

    def op_gelu(self, node, x, approximate="none"):
        return self._act(node, "GELU", x, approximate=approximate)

    def op_softmax(self, node, x, dim, *rest, **kw):
        return self._act(node, "Softmax", x, dim=int(dim))

    op__softmax = op_softmax

    def op_dropout(self, node, x, p=0.5, train=False):
        return self._act(node, "Dropout", x, p=float(p))

    # normalisation
    def op_batch_norm(self, node, x, weight, bias, running_mean, running_var, training=False, momentum=0.1,
                      eps=1e-5, cudnn_enabled=False):
        return self._batch_norm(node, x, weight, bias, running_mean, running_var, eps)

    def op__native_batch_norm_legit_no_training(self, node, x, weight, bias, running_mean, running_var, momentum,
                                                eps):
        v = self._batch_norm(node, x, weight, bias, running_mean, running_var, eps)
        return Value("tuple", items={0: v, 1: "uses BatchNorm's saved statistics", 2: "uses BatchNorm's statistics"})

    def _batch_norm(self, node, x, weight, bias, running_mean, running_var, eps):
        import torch

        self.block_input(x)
        if running_mean is None or running_var is None:
            raise Unsupported("is a BatchNorm without running statistics (track_running_stats=False)")
        if not math.isclose(float(eps), 1e-5, rel_tol=1e-3):
            raise Unsupported(f"is a BatchNorm with eps={eps:g}; Layerloom's BatchNorm uses 1e-05")
        rank = len(self.shape(x)) - 1
        if rank not in (1, 2, 3):
            raise Unsupported("normalises a tensor of a rank BatchNorm does not take")
        mean, var = self.tensor(running_mean), self.tensor(running_var)
        w = self.tensor(weight) if weight is not None else torch.ones_like(mean)
        b = self.tensor(bias) if bias is not None else torch.zeros_like(mean)
        tracked = torch.tensor(0, dtype=torch.long)
        if getattr(running_mean, "op", None) == "get_attr":
            prefix = running_mean.target.rsplit(".", 1)[0]
            with contextlib.suppress(AttributeError):
                tracked = self.gm.get_buffer(f"{prefix}.num_batches_tracked").detach()
        return self.add(node, "BatchNorm", {}, [x], {"weight": w, "bias": b, "running_mean": mean,
                                                     "running_var": var, "num_batches_tracked": tracked})

    def op_layer_norm(self, node, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
        import torch

        self.block_input(x)
        last = self.shape(x)[-1]
        if list(normalized_shape) != [last]:
            raise Unsupported("normalises over more than the last dimension; Layerloom's LayerNorm takes the last")
        if not math.isclose(float(eps), 1e-5, rel_tol=1e-3):
            raise Unsupported(f"is a LayerNorm with eps={eps:g}; Layerloom's LayerNorm uses 1e-05")
        w = self.tensor(weight) if weight is not None else torch.ones(last)
        b = self.tensor(bias) if bias is not None else torch.zeros(last)
        return self.add(node, "LayerNorm", {}, [x], {"weight": w, "bias": b})

    # recurrent layers
    def _recurrent(self, node, kind, x, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                   batch_first):
        import torch

        self.block_input(x)
        hxs = hx if isinstance(hx, list | tuple) else [hx]
        if any(self.value(h).kind != "zeros" for h in hxs):
            raise Unsupported("starts from a given hidden state; Layerloom's recurrent blocks start from zeros")
        if not batch_first:
            raise Unsupported("is not batch_first; Layerloom's recurrent blocks take batch × time × features "
                               "(use batch_first=True)")
        tensors = [self.tensor(p) for p in params]
        dirs = 2 if bidirectional else 1
        per = 4 if has_biases else 2
        if len(tensors) != per * dirs * num_layers:
            raise Unsupported("has a layout of weights Layerloom does not know (proj_size?)")
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
        hidden = int(tensors[1].shape[1])
        weights = {}
        i = 0
        for layer in range(num_layers):
            for d in range(dirs):
                suffix = f"l{layer}" + ("_reverse" if d else "")
                w_ih, w_hh = tensors[i], tensors[i + 1]
                b_ih = tensors[i + 2] if has_biases else torch.zeros(gates * hidden, dtype=w_ih.dtype)
                b_hh = tensors[i + 3] if has_biases else torch.zeros(gates * hidden, dtype=w_ih.dtype)
                i += per
                weights.update({f"weight_ih_{suffix}": w_ih, f"weight_hh_{suffix}": w_hh, f"bias_ih_{suffix}": b_ih,
                                f"bias_hh_{suffix}": b_hh})
        params_ = {"hidden_size": hidden, "num_layers": int(num_layers), "bidirectional": bool(bidirectional),
                   "dropout": float(dropout), "return_sequences": True}
        v = self.add(node, kind, params_, [x], weights)
        hidden_why = (f"uses the final hidden state of {v.label}; Layerloom's {kind} block gives the output "
                      "sequence or its last step")
        return Value("tuple", items={0: v, 1: hidden_why, 2: hidden_why}, label=v.label)

    def op_lstm(self, node, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return self._recurrent(node, "LSTM", x, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                               batch_first)

    def op_gru(self, node, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return self._recurrent(node, "GRU", x, [hx], params, has_biases, num_layers, dropout, train, bidirectional,
                               batch_first)

    def op_rnn_tanh(self, node, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return self._recurrent(node, "RNN", x, [hx], params, has_biases, num_layers, dropout, train, bidirectional,
                               batch_first)

    def op_select(self, node, x, dim, index):
        """`out[:, -1]` after a recurrent block: its last step (the block's return_sequences off)."""
        v = self.block_input(x)
        rank = len(self.shape(x))
        block = self.graph.node(v.node_id) if v.kind == "block" else None
        if (block is not None and block.type in ("RNN", "LSTM", "GRU") and dim % rank == 1
                and index in (-1, self.shape(x)[1] - 1) and not block.params["bidirectional"]
                and block.params["return_sequences"] and len(x.users) == 1):
            self.graph.set_params(block.id, return_sequences=False)
            return v
        raise Unsupported("picks one position of a tensor; Layerloom has no block for that (the last step of a "
                           "one-directional recurrent block is supported)")

    def op_slice(self, node, x, dim=0, start=None, end=None, step=1):
        v = self.block_input(x)
        size = self.shape(x)[dim]
        if (start in (None, 0)) and (end is None or end >= size) and step == 1:
            return v
        raise Unsupported("takes a slice of a tensor; Layerloom has no block for that")

    # shapes
    def op_flatten(self, node, x, start_dim=0, end_dim=-1):
        self.block_input(x)
        rank = len(self.shape(x))
        if start_dim == 1 and end_dim % rank == rank - 1:
            return self.add(node, "Flatten", {}, [x])
        return self._reshape(node, x)

    def op_view(self, node, x, *a, **k):
        return self._reshape(node, x)

    op_reshape = op__unsafe_view = op_view

    def _reshape(self, node, x):
        self.block_input(x)
        before, after = self.shape(x), self.shape(node)
        if not after or after[0] != before[0]:
            raise Unsupported("reshapes across the batch dimension")
        if len(after) == 2 and len(before) > 2:
            return self.add(node, "Flatten", {}, [x])
        return self.add(node, "Reshape", {"shape": list(after[1:])}, [x])

    def op_permute(self, node, x, dims):
        self.block_input(x)
        rank = len(self.shape(x))
        dims = [d % rank for d in dims]
        if dims[0] != 0:
            raise Unsupported("moves the batch dimension")
        return self.add(node, "Permute", {"dims": dims}, [x])

    def op_transpose(self, node, x, d0, d1):
        self.block_input(x)
        rank = len(self.shape(x))
        d0, d1 = d0 % rank, d1 % rank
        if 0 in (d0, d1):
            raise Unsupported("moves the batch dimension")
        dims = list(range(rank))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.add(node, "Permute", {"dims": dims}, [x])

    # merges
    def _merge(self, node, type_id, a, b, alpha=1):
        if not (hasattr(a, "op") and hasattr(b, "op")):
            raise Unsupported("combines a tensor with a constant; Layerloom has no block for that")
        if alpha != 1:
            raise Unsupported("adds with a factor (alpha)")
        self.block_input(a)
        self.block_input(b)
        if a is b:
            raise Unsupported("combines a tensor with itself")
        return self.add(node, type_id, {}, [a, b])

    def op_add(self, node, a, b, alpha=1):
        return self._merge(node, "Add", a, b, alpha)

    op_add_ = op_add

    def op_mul(self, node, a, b):
        return self._merge(node, "Multiply", a, b)

    def op_cat(self, node, tensors, dim=0):
        for t in tensors:
            self.block_input(t)
        if len(tensors) < 2 or len(set(tensors)) != len(tensors):
            raise Unsupported("concatenates fewer than two different tensors")
        if dim % len(self.shape(tensors[0])) == 0:
            raise Unsupported("concatenates along the batch dimension")
        return self.add(node, "Concat", {"dim": int(dim)}, list(tensors))


def _size(value, n: int = 0):
    """A size as Layerloom's parameters keep it: one int when every entry is equal, else a list."""
    if isinstance(value, list | tuple):
        values = [int(v) for v in value]
        if not values:
            return 1
        if len(set(values)) == 1:
            return values[0]
        return values
    return int(value)
