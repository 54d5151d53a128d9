#!/usr/bin/python3
"""keras_torch: an independent PyTorch implementation of Keras layer semantics.

Builds a torch.nn.Module from a Keras model config (the JSON that Keras 3's
``model.get_config()`` gives, wrapped as ``{"class_name": "Functional",
"config": {...}}``) and a legacy Keras weights ``.h5`` file, and evaluates the
graph with Keras's NHWC semantics. It is the reference that zoo's C engine is
checked against end to end, and the peer that ``tools/bench_torch.py`` times.

Nothing here comes from Keras or zoo: every rule is written out below from
Keras's source (keras/src/layers/*, keras/src/models/functional.py,
keras/src/legacy/saving/legacy_h5_format.py, keras/src/backend/torch/nn.py)
and shared/reference/KERAS_APPLICATIONS.md:

  * 4-D tensors are logically NHWC. Inside the module they are held as NCHW
    tensors (with channels_last strides when asked, which is the same memory
    as NHWC), so torch's convolutions and pools run natively; Flatten,
    Reshape, Dense on 4-D input, Concatenate's axis, BN's axis and softmax's
    axis are mapped back to the NHWC meaning. Other ranks are held as is.
  * 'same' padding is TensorFlow's: out = ceil(in/s), total pad =
    max((out-1)*s + (k-1)*d + 1 - in, 0), the odd pixel goes bottom/right.
    Convolutions pad with zeros; max pooling ignores padded cells (-inf);
    average pooling divides by the number of real cells in the window.
  * Kernels: Conv2D (kh, kw, cin/groups, cout) -> (cout, cin/groups, kh, kw);
    DepthwiseConv2D (kh, kw, cin, M): output channel c*M + m uses
    kernel[:, :, c, m]; SeparableConv2D = that depthwise conv (stride,
    padding, dilation of the layer) -> 1x1 pointwise (1, 1, cin*M, cout)
    -> bias -> activation; Dense kernel (in, out): y = x @ W + b.
  * BatchNormalization (inference): y = gamma*(x - mean)/sqrt(var + eps)
    + beta; scale=False means no gamma in the file, center=False no beta.
  * Keras 3 ReLU(max_value, negative_slope, threshold):
    clip(where(x > t, x, 0), 0, max_value) - negative_slope * relu(t - x).
  * hard_sigmoid = relu6(x + 3) / 6, swish = silu = x * sigmoid(x),
    gelu exact (erf), softmax over the last (channel) axis.
  * Weights are loaded BY NAME: the file group named like the layer, arrays
    in the order of its `weight_names` attribute (chunked `weight_names0`,
    ... accepted), from the root or from a `model_weights` group. Count and
    shapes are checked; a mismatch is an error, never a silent skip.

Command line:
  keras_torch.py --config model.json --weights w.h5 --input x.npy
                 --output y.npy [--layer NAME] [--double] [--threads T]
  keras_torch.py --batch cases.json     (many cases, one process; see run_batch)
  keras_torch.py --selfcheck            (hand-computed cases; exit 0 if all pass)

--config may be omitted when --weights is a full-model .h5 (root attribute
`model_config`). Without --weights the module gets seeded random weights.
Inputs and outputs are NumPy .npy, NHWC; outputs are written as float32.
"""
import argparse
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "KerasModel",
    "load_config",
    "read_h5_weights",
    "build_model",
    "random_weights",
    "write_h5_weights",
    "run_case",
    "tf_same_pads",
]


class KerasConfigError(ValueError):
    """The config uses something this implementation does not support, or
    is malformed. The message says which layer and what to change."""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _pair(v, what, layer):
    """Keras's standardize_tuple for 2-D layers: int -> (v, v); list -> tuple."""
    if isinstance(v, dict) and v.get("class_name") == "__tuple__":
        v = v["config"]["value"]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (int(v), int(v))
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return (int(v[0]), int(v[1]))
    raise KerasConfigError(f"layer '{layer}': {what} must be an int or a pair, got {v!r}")


def tf_same_pads(n, k, s, d=1):
    """TensorFlow 'same' padding along one axis: (before, after)."""
    keff = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + keff - n, 0)
    return total // 2, total - total // 2


def _check_data_format(cfg, layer):
    fmt = cfg.get("data_format")
    if fmt not in (None, "channels_last"):
        raise KerasConfigError(
            f"layer '{layer}': data_format={fmt!r} is not supported "
            "(only channels_last, Keras's default)")


def _check_padding(cfg, layer):
    p = cfg.get("padding", "valid")
    if not isinstance(p, str) or p.lower() not in ("valid", "same"):
        raise KerasConfigError(f"layer '{layer}': padding={p!r} is not 'valid' or 'same'")
    return p.lower()


# Logical (NHWC) axis of a 4-D tensor -> physical (NCHW) axis, and back.
_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def to_logical(x):
    """The held tensor as Keras sees it (4-D: NCHW held -> NHWC view)."""
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


def from_logical(x):
    """A tensor in Keras's layout -> the held form (4-D: NHWC -> NCHW view)."""
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


# ---------------------------------------------------------------------------
# Activations (keras/src/activations/activations.py, torch backend nn.py)
# ---------------------------------------------------------------------------


def _softmax_last(x):
    # Keras's softmax is over the last logical axis: channels for 4-D.
    return torch.softmax(x, dim=1 if x.dim() == 4 else -1)


def _log_softmax_last(x):
    return torch.log_softmax(x, dim=1 if x.dim() == 4 else -1)


def _hard_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


_ACTIVATIONS = {
    "linear": None,
    "relu": F.relu,
    "relu6": F.relu6,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": _softmax_last,
    "log_softmax": _log_softmax_last,
    "swish": F.silu,
    "silu": F.silu,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda x: x * _hard_sigmoid(x),
    "hard_swish": lambda x: x * _hard_sigmoid(x),
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,  # Keras 3 activations.gelu: approximate=False
    "softplus": F.softplus,
    "softsign": F.softsign,
    "exponential": torch.exp,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "mish": lambda x: x * torch.tanh(F.softplus(x)),
}


def _activation(spec, layer):
    """Keras's serialized activation (a name, or a dict around a name)."""
    name = spec
    if spec is None:
        name = "linear"
    if isinstance(spec, dict):
        inner = spec.get("config")
        name = inner if isinstance(inner, str) else spec.get("class_name")
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise KerasConfigError(
            f"layer '{layer}': activation {spec!r} is not supported "
            f"(known: {', '.join(sorted(_ACTIVATIONS))})")
    return _ACTIVATIONS[name]


def _keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """keras.src.activations.activations.ReLU.static_call, written out."""
    negative_slope = float(negative_slope or 0.0)
    threshold = float(threshold or 0.0)
    if negative_slope == 0.0 and threshold == 0.0:
        if max_value is None:
            return F.relu(x)
        if float(max_value) == 6.0:
            return F.relu6(x)
        return torch.clamp(F.relu(x), 0.0, float(max_value))
    if threshold != 0.0:
        pos = torch.where(x > threshold, x, torch.zeros_like(x))
    else:
        pos = F.relu(x)
    if max_value is not None:
        pos = torch.clamp(pos, 0.0, float(max_value))
    if negative_slope != 0.0:
        pos = pos - negative_slope * F.relu(threshold - x)
    return pos


# ---------------------------------------------------------------------------
# Layers. Each takes (cfg, name, arrays or None, dtype) and, in forward, a
# list of held tensors; it returns one held tensor.
# ---------------------------------------------------------------------------


class _Layer(nn.Module):
    def __init__(self, cfg, name, arrays=None, dtype=None):
        super().__init__()
        self.keras_name = name
        self.cfg = cfg

    @staticmethod
    def expected(cfg):
        """[(weight name, shape or None)] the layer needs, in Keras's legacy
        order (trainable then non-trainable, as created). Shapes that depend
        on the input are None here and filled in by weight_shapes()."""
        return []

    def set_act(self, spec):
        self.act = _activation(spec, self.keras_name)

    def apply_act(self, x):
        return self.act(x) if self.act is not None else x


def _buffer(mod, name, array, dtype):
    mod.register_buffer(name, torch.from_numpy(np.ascontiguousarray(array)).to(dtype))


class InputLayerT(_Layer):
    def forward(self, xs):
        return xs[0]


class _ConvBase(_Layer):
    def _setup_window(self, cfg, ksize_key="kernel_size"):
        name = self.keras_name
        _check_data_format(cfg, name)
        self.kernel = _pair(cfg[ksize_key], ksize_key, name)
        self.strides = _pair(cfg.get("strides", 1), "strides", name)
        self.dilation = _pair(cfg.get("dilation_rate", 1), "dilation_rate", name)
        self.padding = _check_padding(cfg, name)
        if self.strides != (1, 1) and self.dilation != (1, 1):
            raise KerasConfigError(f"layer '{name}': strides > 1 with dilation_rate > 1 "
                                   "is rejected by Keras too")

    def _pads(self, x):
        """(symmetric torch padding (ph, pw) or None, explicit F.pad tuple)."""
        if self.padding == "valid":
            return (0, 0), None
        H, W = int(x.shape[2]), int(x.shape[3])
        t, b = tf_same_pads(H, self.kernel[0], self.strides[0], self.dilation[0])
        l, r = tf_same_pads(W, self.kernel[1], self.strides[1], self.dilation[1])
        if t == b and l == r:
            return (t, l), None
        return (0, 0), (l, r, t, b)

    def _conv(self, x, w, b, groups):
        sym, explicit = self._pads(x)
        if explicit is not None:
            x = F.pad(x, explicit)
        return F.conv2d(x, w, b, self.strides, sym, self.dilation, groups)


class Conv2DT(_ConvBase):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        self._setup_window(cfg)
        self.groups = int(cfg.get("groups", 1) or 1)
        self.use_bias = bool(cfg.get("use_bias", True))
        self.set_act(cfg.get("activation"))
        k = arrays[0]
        if k.ndim != 4 or tuple(k.shape[:2]) != self.kernel:
            raise KerasConfigError(f"layer '{name}': kernel shape {k.shape} does not match "
                                   f"kernel_size {self.kernel}")
        if k.shape[3] != int(cfg["filters"]):
            raise KerasConfigError(f"layer '{name}': kernel has {k.shape[3]} filters, "
                                   f"config says {cfg['filters']}")
        _buffer(self, "w", k.transpose(3, 2, 0, 1), dtype)  # (cout, cin/g, kh, kw)
        if self.use_bias:
            _buffer(self, "b", arrays[1], dtype)
        else:
            self.b = None

    @staticmethod
    def expected(cfg):
        return [("kernel", None)] + ([("bias", None)] if cfg.get("use_bias", True) else [])

    @staticmethod
    def weight_shapes(cfg, cin):
        kh, kw = _pair(cfg["kernel_size"], "kernel_size", "?")
        g = int(cfg.get("groups", 1) or 1)
        f = int(cfg["filters"])
        return [(kh, kw, cin // g, f)] + ([(f,)] if cfg.get("use_bias", True) else [])

    def forward(self, xs):
        return self.apply_act(self._conv(xs[0], self.w, self.b, self.groups))


def _depthwise_weight(k):
    """(kh, kw, cin, M) -> torch (cin*M, 1, kh, kw); channel c*M + m."""
    kh, kw, cin, m = k.shape
    return k.reshape(kh, kw, cin * m).transpose(2, 0, 1)[:, None, :, :]


class DepthwiseConv2DT(_ConvBase):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        self._setup_window(cfg)
        self.use_bias = bool(cfg.get("use_bias", True))
        self.set_act(cfg.get("activation"))
        k = arrays[0]
        self.cin = k.shape[2]
        if k.ndim != 4 or tuple(k.shape[:2]) != self.kernel or \
                k.shape[3] != int(cfg.get("depth_multiplier", 1)):
            raise KerasConfigError(f"layer '{name}': depthwise kernel shape {k.shape} does not "
                                   "match kernel_size/depth_multiplier")
        _buffer(self, "w", _depthwise_weight(k), dtype)
        if self.use_bias:
            _buffer(self, "b", arrays[1], dtype)
        else:
            self.b = None

    @staticmethod
    def expected(cfg):
        return [("depthwise_kernel", None)] + \
            ([("bias", None)] if cfg.get("use_bias", True) else [])

    @staticmethod
    def weight_shapes(cfg, cin):
        kh, kw = _pair(cfg["kernel_size"], "kernel_size", "?")
        m = int(cfg.get("depth_multiplier", 1))
        return [(kh, kw, cin, m)] + ([(cin * m,)] if cfg.get("use_bias", True) else [])

    def forward(self, xs):
        return self.apply_act(self._conv(xs[0], self.w, self.b, self.cin))


class SeparableConv2DT(_ConvBase):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        self._setup_window(cfg)
        self.use_bias = bool(cfg.get("use_bias", True))
        self.set_act(cfg.get("activation"))
        dk, pk = arrays[0], arrays[1]
        self.cin = dk.shape[2]
        m = int(cfg.get("depth_multiplier", 1))
        if dk.ndim != 4 or tuple(dk.shape[:2]) != self.kernel or dk.shape[3] != m:
            raise KerasConfigError(f"layer '{name}': depthwise kernel shape {dk.shape} does "
                                   "not match kernel_size/depth_multiplier")
        if pk.shape[:3] != (1, 1, self.cin * m) or pk.shape[3] != int(cfg["filters"]):
            raise KerasConfigError(f"layer '{name}': pointwise kernel shape {pk.shape} does "
                                   "not match the depthwise output and filters")
        _buffer(self, "dw", _depthwise_weight(dk), dtype)
        _buffer(self, "pw", pk.transpose(3, 2, 0, 1), dtype)
        if self.use_bias:
            _buffer(self, "b", arrays[2], dtype)
        else:
            self.b = None

    @staticmethod
    def expected(cfg):
        return [("depthwise_kernel", None), ("pointwise_kernel", None)] + \
            ([("bias", None)] if cfg.get("use_bias", True) else [])

    @staticmethod
    def weight_shapes(cfg, cin):
        kh, kw = _pair(cfg["kernel_size"], "kernel_size", "?")
        m = int(cfg.get("depth_multiplier", 1))
        f = int(cfg["filters"])
        return [(kh, kw, cin, m), (1, 1, cin * m, f)] + \
            ([(f,)] if cfg.get("use_bias", True) else [])

    def forward(self, xs):
        y = self._conv(xs[0], self.dw, None, self.cin)
        y = F.conv2d(y, self.pw, self.b)
        return self.apply_act(y)


class DenseT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        self.use_bias = bool(cfg.get("use_bias", True))
        self.set_act(cfg.get("activation"))
        k = arrays[0]
        if k.ndim != 2 or k.shape[1] != int(cfg["units"]):
            raise KerasConfigError(f"layer '{name}': kernel shape {k.shape} does not match "
                                   f"units={cfg['units']}")
        _buffer(self, "w", k.T, dtype)  # F.linear wants (out, in)
        if self.use_bias:
            _buffer(self, "b", arrays[1], dtype)
        else:
            self.b = None

    @staticmethod
    def expected(cfg):
        return [("kernel", None)] + ([("bias", None)] if cfg.get("use_bias", True) else [])

    @staticmethod
    def weight_shapes(cfg, cin):
        u = int(cfg["units"])
        return [(cin, u)] + ([(u,)] if cfg.get("use_bias", True) else [])

    def forward(self, xs):
        x = xs[0]
        if x.dim() == 4:  # Dense acts on the last logical axis (channels)
            y = F.linear(to_logical(x), self.w, self.b)
            return self.apply_act(from_logical(y))
        return self.apply_act(F.linear(x, self.w, self.b))


class BatchNormalizationT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        axis = cfg.get("axis", -1)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise KerasConfigError(f"layer '{name}': BatchNormalization over several "
                                       f"axes {axis} is not supported")
            axis = axis[0]
        self.axis = int(axis)
        self.eps = float(cfg.get("epsilon", 1e-3))
        scale, center = bool(cfg.get("scale", True)), bool(cfg.get("center", True))
        arrays = list(arrays)
        gamma = arrays.pop(0) if scale else None
        beta = arrays.pop(0) if center else None
        mean, var = arrays
        c = mean.shape[0]
        for nm, a in (("gamma", gamma), ("beta", beta), ("moving_variance", var)):
            if a is not None and a.shape != (c,):
                raise KerasConfigError(f"layer '{name}': {nm} has shape {a.shape}, "
                                       f"moving_mean {mean.shape}")
        _buffer(self, "mean", mean, dtype)
        _buffer(self, "var", var, dtype)
        if gamma is not None:
            _buffer(self, "gamma", gamma, dtype)
        else:
            self.gamma = None
        if beta is not None:
            _buffer(self, "beta", beta, dtype)
        else:
            self.beta = None

    @staticmethod
    def expected(cfg):
        out = []
        if cfg.get("scale", True):
            out.append(("gamma", None))
        if cfg.get("center", True):
            out.append(("beta", None))
        return out + [("moving_mean", None), ("moving_variance", None)]

    @staticmethod
    def weight_shapes(cfg, cin):
        return [(cin,)] * len(BatchNormalizationT.expected(cfg))

    def forward(self, xs):
        x = xs[0]
        r = x.dim()
        axis = self.axis % r
        if (r == 4 and axis == 3) or (r == 2 and axis == 1):
            # Held NCHW (or (N, C)): the channel is torch's dim 1.
            return F.batch_norm(x, self.mean, self.var, self.gamma, self.beta,
                                False, 0.0, self.eps)
        # General case, on the logical layout.
        y = to_logical(x)
        shape = [1] * r
        shape[axis] = -1
        inv = torch.rsqrt(self.var + self.eps)
        if self.gamma is not None:
            inv = inv * self.gamma
        off = -self.mean * inv
        if self.beta is not None:
            off = off + self.beta
        y = y * inv.reshape(shape) + off.reshape(shape)
        return from_logical(y)


class ActivationT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        self.set_act(cfg.get("activation"))

    def forward(self, xs):
        return self.apply_act(xs[0])


class ReLUT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        mv = cfg.get("max_value")
        self.max_value = None if mv is None else float(mv)
        self.negative_slope = float(cfg.get("negative_slope", 0.0) or 0.0)
        self.threshold = float(cfg.get("threshold", 0.0) or 0.0)

    def forward(self, xs):
        return _keras_relu(xs[0], self.max_value, self.negative_slope, self.threshold)


class LeakyReLUT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        self.slope = float(cfg.get("negative_slope", cfg.get("alpha", 0.3)))

    def forward(self, xs):
        return F.leaky_relu(xs[0], self.slope)


class SoftmaxT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        axis = cfg.get("axis", -1)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise KerasConfigError(f"layer '{name}': softmax over several axes")
            axis = axis[0]
        self.axis = int(axis)

    def forward(self, xs):
        x = xs[0]
        a = self.axis % x.dim()
        if x.dim() == 4:
            a = _NHWC_TO_NCHW[a]
        return torch.softmax(x, dim=a)


class _PoolBase(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        _check_data_format(cfg, name)
        self.pool = _pair(cfg.get("pool_size", 2), "pool_size", name)
        s = cfg.get("strides")
        self.strides = self.pool if s is None else _pair(s, "strides", name)
        self.padding = _check_padding(cfg, name)

    def _same(self, x):
        H, W = int(x.shape[2]), int(x.shape[3])
        t, b = tf_same_pads(H, self.pool[0], self.strides[0])
        l, r = tf_same_pads(W, self.pool[1], self.strides[1])
        return t, b, l, r


class MaxPooling2DT(_PoolBase):
    def forward(self, xs):
        x = xs[0]
        if self.padding == "valid":
            return F.max_pool2d(x, self.pool, self.strides)
        t, b, l, r = self._same(x)
        if t == b and l == r and 2 * t <= self.pool[0] and 2 * l <= self.pool[1]:
            # torch's implicit padding is -inf: padded cells never win.
            return F.max_pool2d(x, self.pool, self.strides, (t, l))
        x = F.pad(x, (l, r, t, b), value=float("-inf"))
        return F.max_pool2d(x, self.pool, self.strides)


class AveragePooling2DT(_PoolBase):
    def forward(self, xs):
        x = xs[0]
        if self.padding == "valid":
            return F.avg_pool2d(x, self.pool, self.strides)
        t, b, l, r = self._same(x)
        if t == b and l == r and 2 * t <= self.pool[0] and 2 * l <= self.pool[1]:
            # count_include_pad=False: the divisor is the number of real cells.
            return F.avg_pool2d(x, self.pool, self.strides, (t, l),
                                count_include_pad=False)
        s = F.avg_pool2d(F.pad(x, (l, r, t, b)), self.pool, self.strides,
                         divisor_override=1)
        ones = torch.ones((1, 1, x.shape[2], x.shape[3]), dtype=x.dtype, device=x.device)
        n = F.avg_pool2d(F.pad(ones, (l, r, t, b)), self.pool, self.strides,
                         divisor_override=1)
        return s / n


class _GlobalPoolBase(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        _check_data_format(cfg, name)
        self.keepdims = bool(cfg.get("keepdims", False))


class GlobalAveragePooling2DT(_GlobalPoolBase):
    def forward(self, xs):
        return xs[0].mean(dim=(2, 3), keepdim=self.keepdims)


class GlobalMaxPooling2DT(_GlobalPoolBase):
    def forward(self, xs):
        return torch.amax(xs[0], dim=(2, 3), keepdim=self.keepdims)


def _pad4(v, what, name):
    """ZeroPadding2D / Cropping2D amounts -> (top, bottom, left, right)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = int(v)
        return v, v, v, v
    if isinstance(v, (list, tuple)) and len(v) == 2:
        h, w = v
        h = (int(h), int(h)) if isinstance(h, (int, float)) else tuple(int(a) for a in h)
        w = (int(w), int(w)) if isinstance(w, (int, float)) else tuple(int(a) for a in w)
        if len(h) == 2 and len(w) == 2:
            return h[0], h[1], w[0], w[1]
    raise KerasConfigError(f"layer '{name}': {what}={v!r} is not int, (h, w) or "
                           "((top, bottom), (left, right))")


class ZeroPadding2DT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        _check_data_format(cfg, name)
        self.t, self.b, self.l, self.r = _pad4(cfg.get("padding", 1), "padding", name)

    def forward(self, xs):
        return F.pad(xs[0], (self.l, self.r, self.t, self.b))


class Cropping2DT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        _check_data_format(cfg, name)
        self.t, self.b, self.l, self.r = _pad4(cfg.get("cropping", 0), "cropping", name)

    def forward(self, xs):
        x = xs[0]
        H, W = int(x.shape[2]), int(x.shape[3])
        return x[:, :, self.t:H - self.b, self.l:W - self.r]


class FlattenT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        _check_data_format(cfg, name)

    def forward(self, xs):
        # Keras flattens the channels_last tensor in row-major (H, W, C) order.
        return to_logical(xs[0]).flatten(1)


class ReshapeT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        ts = cfg.get("target_shape")
        if isinstance(ts, dict) and ts.get("class_name") == "__tuple__":
            ts = ts["config"]["value"]
        if not isinstance(ts, (list, tuple)):
            raise KerasConfigError(f"layer '{name}': target_shape {ts!r} is not a list")
        self.target = [(-1 if d is None else int(d)) for d in ts]

    def forward(self, xs):
        x = to_logical(xs[0])
        y = x.reshape([x.shape[0]] + self.target)
        return from_logical(y)


class IdentityT(_Layer):
    """Dropout and friends: identity at inference."""

    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)

    def forward(self, xs):
        return xs[0]


def _harmonize(xs):
    """Keras's Merge with inputs of different ranks: expand_dims(axis=1)
    on the lower-rank ones until every rank matches (logical layout)."""
    ranks = {x.dim() for x in xs}
    if len(ranks) == 1:
        return xs, False
    r = max(ranks)
    out = []
    for x in xs:
        y = to_logical(x)
        while y.dim() < r:
            y = y.unsqueeze(1)
        out.append(y)
    return out, True


class _MergeT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)

    def forward(self, xs):
        ys, logical = _harmonize(list(xs))
        y = self.merge(ys)
        return from_logical(y) if logical else y


class AddT(_MergeT):
    def merge(self, ys):
        y = ys[0]
        for z in ys[1:]:
            y = y + z
        return y


class SubtractT(_MergeT):
    def merge(self, ys):
        if len(ys) != 2:
            raise KerasConfigError(f"layer '{self.keras_name}': Subtract takes 2 inputs")
        return ys[0] - ys[1]


class MultiplyT(_MergeT):
    def merge(self, ys):
        y = ys[0]
        for z in ys[1:]:
            y = y * z
        return y


class AverageT(_MergeT):
    def merge(self, ys):
        y = ys[0]
        for z in ys[1:]:
            y = y + z
        return y / len(ys)


class MaximumT(_MergeT):
    def merge(self, ys):
        y = ys[0]
        for z in ys[1:]:
            y = torch.maximum(y, z)
        return y


class MinimumT(_MergeT):
    def merge(self, ys):
        y = ys[0]
        for z in ys[1:]:
            y = torch.minimum(y, z)
        return y


class ConcatenateT(_Layer):
    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        self.axis = int(cfg.get("axis", -1))

    def forward(self, xs):
        r = xs[0].dim()
        if any(x.dim() != r for x in xs):
            raise KerasConfigError(f"layer '{self.keras_name}': Concatenate inputs differ in rank")
        a = self.axis % r
        if r == 4:
            a = _NHWC_TO_NCHW[a]
        return torch.cat(list(xs), dim=a)


class CustomScaleLayerT(_Layer):
    """keras/src/applications/inception_resnet_v2.py: inputs[0] + inputs[1] * scale."""

    def __init__(self, cfg, name, arrays, dtype):
        super().__init__(cfg, name)
        self.scale = float(cfg["scale"])

    def forward(self, xs):
        if len(xs) != 2:
            raise KerasConfigError(f"layer '{self.keras_name}': CustomScaleLayer takes 2 inputs")
        return xs[0] + xs[1] * self.scale


LAYER_CLASSES = {
    "InputLayer": InputLayerT,
    "Conv2D": Conv2DT,
    "Convolution2D": Conv2DT,
    "DepthwiseConv2D": DepthwiseConv2DT,
    "SeparableConv2D": SeparableConv2DT,
    "SeparableConvolution2D": SeparableConv2DT,
    "Dense": DenseT,
    "BatchNormalization": BatchNormalizationT,
    "Activation": ActivationT,
    "ReLU": ReLUT,
    "LeakyReLU": LeakyReLUT,
    "Softmax": SoftmaxT,
    "MaxPooling2D": MaxPooling2DT,
    "MaxPool2D": MaxPooling2DT,
    "AveragePooling2D": AveragePooling2DT,
    "AvgPool2D": AveragePooling2DT,
    "GlobalAveragePooling2D": GlobalAveragePooling2DT,
    "GlobalAvgPool2D": GlobalAveragePooling2DT,
    "GlobalMaxPooling2D": GlobalMaxPooling2DT,
    "GlobalMaxPool2D": GlobalMaxPooling2DT,
    "ZeroPadding2D": ZeroPadding2DT,
    "Cropping2D": Cropping2DT,
    "Flatten": FlattenT,
    "Reshape": ReshapeT,
    "Dropout": IdentityT,
    "SpatialDropout2D": IdentityT,
    "GaussianDropout": IdentityT,
    "GaussianNoise": IdentityT,
    "Add": AddT,
    "Subtract": SubtractT,
    "Multiply": MultiplyT,
    "Average": AverageT,
    "Maximum": MaximumT,
    "Minimum": MinimumT,
    "Concatenate": ConcatenateT,
    "CustomScaleLayer": CustomScaleLayerT,
}


# ---------------------------------------------------------------------------
# Config parsing (keras/src/models/functional.py: get_config,
# functional_from_config, deserialize_node)
# ---------------------------------------------------------------------------


def load_config(src):
    """A Keras model config from a path, JSON text or dict. Returns the
    inner dict with "name", "layers", "input_layers", "output_layers".
    Accepts {"class_name": "Functional"|"Model", "config": {...}} (Keras 3,
    tf.keras 2), the bare inner config, and Sequential configs."""
    if isinstance(src, (bytes, bytearray)):
        src = src.decode("utf-8")
    if isinstance(src, str):
        if src.lstrip().startswith("{"):
            obj = json.loads(src)
        else:
            with open(src, "r", encoding="utf-8") as f:
                obj = json.load(f)
    else:
        obj = src
    if not isinstance(obj, dict):
        raise KerasConfigError("model config is not a JSON object")
    cls = obj.get("class_name")
    inner = obj.get("config", obj) if "layers" not in obj else obj
    if cls == "Sequential":
        return _sequential_to_functional(inner)
    if cls not in (None, "Functional", "Model"):
        raise KerasConfigError(f"model class {cls!r} is not supported "
                               "(Functional, Model or Sequential)")
    for key in ("layers", "input_layers", "output_layers"):
        if key not in inner:
            raise KerasConfigError(f"model config has no '{key}' "
                                   "(is it a Keras model.get_config()?)")
    return inner


def _sequential_to_functional(cfg):
    layers = cfg["layers"] if isinstance(cfg, dict) else cfg
    out, prev = [], None
    for i, ld in enumerate(layers):
        ld = dict(ld)
        name = ld.get("name") or ld.get("config", {}).get("name") or f"layer_{i}"
        ld["name"] = name
        if ld["class_name"] == "InputLayer":
            ld["inbound_nodes"] = []
        elif prev is None:
            shape = cfg.get("build_input_shape") if isinstance(cfg, dict) else None
            bis = ld.get("config", {}).get("batch_input_shape") or shape
            if bis is None:
                raise KerasConfigError("Sequential config without an input shape")
            out.append({"class_name": "InputLayer", "name": "input_layer",
                        "config": {"batch_shape": bis, "name": "input_layer"},
                        "inbound_nodes": []})
            prev = "input_layer"
        if ld["class_name"] != "InputLayer":
            ld["inbound_nodes"] = [[[prev, 0, 0, {}]]]
        out.append(ld)
        prev = name
    return {"name": cfg.get("name", "sequential") if isinstance(cfg, dict) else "sequential",
            "layers": out, "input_layers": [[out[0]["name"], 0, 0]],
            "output_layers": [[prev, 0, 0]]}


def _is_ref(v):
    return (isinstance(v, (list, tuple)) and len(v) == 3 and isinstance(v[0], str)
            and isinstance(v[1], int) and isinstance(v[2], int))


def _flatten_refs(struct):
    """input_layers / output_layers: a leaf [name, node, tensor], or a list /
    dict of leaves (Keras's map_tensors)."""
    if _is_ref(struct):
        return [(struct[0], struct[1], struct[2])]
    out = []
    if isinstance(struct, dict):
        for v in struct.values():
            out += _flatten_refs(v)
    elif isinstance(struct, (list, tuple)):
        for v in struct:
            out += _flatten_refs(v)
    else:
        raise KerasConfigError(f"bad tensor reference {struct!r} in the model config")
    return out


def _keras_tensors(obj, layer):
    """Keras tensors (their keras_history) in a serialized node's args,
    depth-first in order (Keras 3: {"class_name": "__keras_tensor__",
    "config": {"keras_history": [layer, node, tensor]}})."""
    out = []
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            h = obj.get("config", {}).get("keras_history")
            if not _is_ref(h):
                raise KerasConfigError(f"layer '{layer}': Keras tensor without keras_history")
            out.append((h[0], h[1], h[2]))
        elif obj.get("class_name") in ("__tuple__",):
            out += _keras_tensors(obj.get("config", {}).get("value", []), layer)
        else:
            for v in obj.values():
                out += _keras_tensors(v, layer)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            out += _keras_tensors(v, layer)
    return out


def _node_inputs(node, layer):
    """Input refs of one inbound node, Keras 3 ({"args", "kwargs"}) or
    legacy ([[name, node, tensor, kwargs], ...])."""
    if isinstance(node, dict):
        refs = _keras_tensors(node.get("args", []), layer)
        kw = _keras_tensors(node.get("kwargs", {}), layer)
        if kw:
            raise KerasConfigError(f"layer '{layer}': tensors passed as keyword arguments "
                                   "(e.g. mask) are not supported")
        return refs
    if isinstance(node, (list, tuple)):
        refs = []
        for item in node:
            if not (isinstance(item, (list, tuple)) and len(item) in (3, 4)
                    and isinstance(item[0], str)):
                raise KerasConfigError(f"layer '{layer}': bad legacy inbound node {item!r}")
            refs.append((item[0], int(item[1]), int(item[2])))
        return refs
    raise KerasConfigError(f"layer '{layer}': bad inbound node {node!r}")


class Graph:
    """The parsed config: layers by name, their nodes' inputs, the model's
    inputs and outputs."""

    def __init__(self, cfg):
        self.name = cfg.get("name", "model")
        self.layers = {}   # name -> layer dict (class_name, config)
        self.order = []    # names in config order
        self.nodes = {}    # (name, node index) -> [input refs]
        for ld in cfg["layers"]:
            name = ld.get("name") or ld.get("config", {}).get("name")
            if not name:
                raise KerasConfigError("a layer in the config has no name")
            if name in self.layers:
                raise KerasConfigError(f"two layers are named '{name}'")
            cls = ld.get("class_name")
            if cls in ("Functional", "Model", "Sequential"):
                raise KerasConfigError(f"layer '{name}': nested models are not supported")
            self.layers[name] = ld
            self.order.append(name)
            for k, node in enumerate(ld.get("inbound_nodes", []) or []):
                self.nodes[(name, k)] = _node_inputs(node, name)
        self.inputs = _flatten_refs(cfg["input_layers"])
        self.outputs = _flatten_refs(cfg["output_layers"])
        for name, _, _ in self.inputs:
            if name not in self.layers:
                raise KerasConfigError(f"model input '{name}' is not a layer of the config")
            if self.layers[name].get("class_name") != "InputLayer":
                raise KerasConfigError(f"model input '{name}' is not an InputLayer")
        for key, refs in self.nodes.items():
            for r in refs:
                if r[0] not in self.layers:
                    raise KerasConfigError(f"layer '{key[0]}' takes input from unknown "
                                           f"layer '{r[0]}'")

    def input_shape(self, name):
        """(H, W, C) etc. of an InputLayer, None for unknown dims."""
        c = self.layers[name].get("config", {})
        bs = c.get("batch_shape") or c.get("batch_input_shape")
        if bs is None:
            return None
        return [None if d is None else int(d) for d in bs[1:]]

    def schedule(self, outputs):
        """(layer name, node index) pairs needed for `outputs`, each after its
        inputs (iterative DFS, no recursion limit for deep nets)."""
        inputs = {(n, k) for n, k, _ in self.inputs}
        order, state = [], {}
        for ref in outputs:
            start = (ref[0], ref[1])
            stack = [(start, False)]
            while stack:
                key, done = stack.pop()
                if done:
                    if state.get(key) != 2:
                        state[key] = 2
                        order.append(key)
                    continue
                if state.get(key) == 2:
                    continue
                if state.get(key) == 1:
                    raise KerasConfigError(f"the graph has a cycle through layer '{key[0]}'")
                state[key] = 1
                stack.append((key, True))
                if key in inputs:
                    continue
                if key not in self.nodes:
                    if self.layers[key[0]].get("class_name") == "InputLayer":
                        raise KerasConfigError(f"InputLayer '{key[0]}' is needed but is not "
                                               "one of the model's inputs")
                    raise KerasConfigError(f"layer '{key[0]}' has no call number {key[1]} "
                                           "in the config")
                for r in reversed(self.nodes[key]):
                    nk = (r[0], r[1])
                    if state.get(nk) != 2:
                        if state.get(nk) == 1:
                            raise KerasConfigError(f"the graph has a cycle through '{r[0]}'")
                        stack.append((nk, False))
        return order


# ---------------------------------------------------------------------------
# Legacy .h5 weights (keras/src/legacy/saving/legacy_h5_format.py)
# ---------------------------------------------------------------------------


def _h5_strings(obj, name):
    """load_attributes_from_hdf5_group: the attribute or its chunks
    name0, name1, ...; bytes decoded; an empty array of any dtype is []."""
    def conv(a):
        if a is None:
            return []
        arr = np.asarray(a)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        out = []
        for n in arr.tolist():
            if isinstance(n, bytes):
                n = n.decode("utf-8")
            out.append(str(n).rstrip("\x00"))
        return out
    if name in obj.attrs:
        a = obj.attrs[name]
        if isinstance(a, np.ndarray) and a.size == 0:
            return []
        return conv(a)
    data, k = [], 0
    while f"{name}{k}" in obj.attrs:
        data += conv(obj.attrs[f"{name}{k}"])
        k += 1
    return data


def read_h5_weights(path):
    """{layer name: [(weight name, array)]} for every layer group listed in
    the file's layer_names (root, or the `model_weights` group of a full
    model file), plus the model config JSON if the file has one."""
    import h5py
    out, model_config = {}, None
    with h5py.File(path, "r") as f:
        if "model_config" in f.attrs:
            mc = f.attrs["model_config"]
            model_config = mc.decode("utf-8") if isinstance(mc, bytes) else str(mc)
        g = f
        if "layer_names" not in f.attrs and "layer_names0" not in f.attrs:
            if "model_weights" in f:
                g = f["model_weights"]
            else:
                raise KerasConfigError(
                    f"{path}: no 'layer_names' attribute and no 'model_weights' group; "
                    "not a legacy Keras weights file (a Keras 3 .weights.h5 is "
                    "organised by object path and is not read here)")
        names = _h5_strings(g, "layer_names")
        for lname in names:
            if lname not in g:
                raise KerasConfigError(f"{path}: layer '{lname}' is listed in layer_names "
                                       "but has no group")
            lg = g[lname]
            arrays = []
            for wn in _h5_strings(lg, "weight_names"):
                if wn not in lg:
                    raise KerasConfigError(f"{path}: layer '{lname}' lists weight '{wn}' "
                                           "that is not in its group")
                arrays.append((wn, np.asarray(lg[wn])))
            out[lname] = arrays
    return out, model_config


def write_h5_weights(path, weights, layer_order):
    """The legacy save_weights layout (root layer_names, one group per
    layer with weight_names and datasets 'layer/weight:0'); `weights` is
    {layer: [(weight name, array)]}, `layer_order` every layer's name in
    model.layers order (weightless ones too)."""
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode("utf-8") for n in layer_order]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"3.0.0"
        for name in sorted(layer_order):
            g = f.create_group(name)
            ws = weights.get(name, [])
            g.attrs["weight_names"] = [f"{name}/{wn}:0".encode("utf-8") for wn, _ in ws]
            for wn, a in ws:
                g.create_dataset(f"{name}/{wn}:0", data=np.asarray(a, dtype=np.float32))


def _short_weight_name(wn):
    """'conv1/kernel:0' -> 'kernel'; 'block1_conv1_W_1:0' -> as is."""
    base = wn.split("/")[-1]
    if ":" in base:
        base = base.split(":")[0]
    return base


# ---------------------------------------------------------------------------
# Shapes and random weights (for the benchmark and self-checks)
# ---------------------------------------------------------------------------


def infer_shapes(graph, schedule):
    """Logical (Keras) output shape (batch excluded, None unknown) of each
    scheduled node, from the InputLayers' shapes, by running the graph on
    zeros of batch 1 with placeholder weights. Returns {(name, node): shape}
    and {(name, node): input channel count} for weighted layers."""
    shapes, cins = {}, {}
    values = {}
    for n, k, _ in graph.inputs:
        shp = graph.input_shape(n)
        if shp is None or any(d is None for d in shp):
            raise KerasConfigError(f"input '{n}' has unknown dimensions {shp}; "
                                   "random weights need a fixed input shape")
        values[(n, k)] = from_logical(torch.zeros([1] + shp, dtype=torch.float32))
    for key in schedule:
        name = key[0]
        if key in values:
            shapes[key] = list(to_logical(values[key]).shape[1:])
            continue
        ld = graph.layers[name]
        cls = LAYER_CLASSES.get(ld["class_name"])
        if cls is None:
            raise KerasConfigError(f"layer '{name}': class {ld['class_name']} is not supported")
        xs = [values[(r[0], r[1])] for r in graph.nodes[key]]
        cfg = ld.get("config", {})
        arrays = None
        if hasattr(cls, "weight_shapes"):
            cin = int(to_logical(xs[0]).shape[-1])
            cins[key] = cin
            arrays = [np.zeros(s, dtype=np.float32) for s in cls.weight_shapes(cfg, cin)]
            if cls is BatchNormalizationT:
                # variance 1 keeps the probe finite
                arrays[-1] = np.ones_like(arrays[-1])
        mod = cls(cfg, name, arrays, torch.float32)
        with torch.no_grad():
            y = mod(xs)
        values[key] = y
        shapes[key] = list(to_logical(y).shape[1:])
    return shapes, cins


def random_weights(graph, seed=0):
    """Seeded random weights for every weighted layer the model uses:
    He-normal kernels, small biases, BN statistics around (0, 1) with
    gammas around 1, so deep nets stay finite. {layer: [(name, array)]}."""
    rng = np.random.default_rng(seed)
    sched = graph.schedule(graph.outputs)
    _, cins = infer_shapes(graph, sched)
    out = {}
    for key in sched:
        name = key[0]
        if name in out or key not in cins:
            continue
        ld = graph.layers[name]
        cls = LAYER_CLASSES[ld["class_name"]]
        cfg = ld.get("config", {})
        names = [n for n, _ in cls.expected(cfg)]
        arrays = []
        for wn, shp in zip(names, cls.weight_shapes(cfg, cins[key])):
            if wn in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                fan_in = int(np.prod(shp[:-1])) if wn != "depthwise_kernel" \
                    else int(shp[0] * shp[1])
                a = rng.standard_normal(shp, dtype=np.float32) * np.float32(math.sqrt(2.0 / max(fan_in, 1)))
            elif wn == "gamma":
                a = rng.uniform(0.5, 1.5, shp)
            elif wn == "moving_variance":
                a = rng.uniform(0.5, 1.5, shp)
            elif wn in ("beta", "moving_mean", "bias"):
                a = rng.uniform(-0.2, 0.2, shp)
            else:
                a = rng.standard_normal(shp) * 0.1
            arrays.append((wn, a.astype(np.float32)))
        out[name] = arrays
    return out


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


class KerasModel(nn.Module):
    """A Keras Functional model as a torch module.

    forward(*inputs) takes NHWC tensors (one per model input, in
    input_layers order) and returns the requested outputs in Keras's layout
    (NHWC for 4-D): one tensor, or a tuple when there are several.

    config:   anything load_config accepts.
    weights:  {layer: [(weight name, array)]} (read_h5_weights), a path to
              a legacy .h5, or None for seeded random weights.
    outputs:  None (the model's outputs) or a list of layer names / [name,
              node, tensor] refs (feature extraction at any layer: node 0
              of a named layer is Keras's layer.output).
    dtype:    torch.float32 or torch.float64.
    channels_last: keep 4-D activations in channels_last memory (the
              benchmark's setting; numerically the same).
    """

    def __init__(self, config, weights=None, outputs=None, dtype=torch.float32,
                 channels_last=False, seed=0):
        super().__init__()
        self.graph = g = Graph(load_config(config))
        if outputs is None:
            refs = g.outputs
        else:
            refs = []
            for o in ([outputs] if isinstance(outputs, (str, tuple)) else outputs):
                if isinstance(o, str):
                    if o not in g.layers:
                        raise KerasConfigError(f"no layer named '{o}' in the model "
                                               f"(it has {len(g.layers)} layers)")
                    refs.append((o, 0, 0))
                else:
                    refs.append(tuple(o))
        for r in refs:
            if r[2] != 0:
                raise KerasConfigError(f"output {r}: layers here have one output tensor")
        self.out_refs = refs
        self.sched = g.schedule(refs)
        self.dtype_ = dtype
        self.channels_last = channels_last
        if isinstance(weights, str):
            weights, _ = read_h5_weights(weights)
        if weights is None:
            weights = random_weights(g, seed)
        self.input_keys = [(n, k) for n, k, _ in g.inputs]

        # One module per layer used (a layer called twice shares it).
        self.mods = nn.ModuleList()
        index = {}
        for key in self.sched:
            name = key[0]
            if name in index:
                continue
            ld = g.layers[name]
            cls = LAYER_CLASSES.get(ld.get("class_name"))
            if cls is None:
                raise KerasConfigError(
                    f"layer '{name}': class {ld.get('class_name')!r} is not supported "
                    f"(supported: {', '.join(sorted(LAYER_CLASSES))})")
            cfg = ld.get("config", {}) or {}
            arrays = self._arrays_for(name, cls, cfg, weights)
            try:
                mod = cls(cfg, name, arrays, dtype)
            except KeyError as e:
                raise KerasConfigError(f"layer '{name}' ({ld['class_name']}): config has no "
                                       f"{e}") from None
            index[name] = len(self.mods)
            self.mods.append(mod)
        self.index = index

        # Plan: (module index or -1 for an input, input slots, output slot)
        # with each value's last use, so eager runs free memory early.
        slot = {}
        plan = []
        for key in self.sched:
            if key in self.input_keys:
                slot[key] = ("in", self.input_keys.index(key))
                continue
            ins = [(r[0], r[1]) for r in g.nodes[key]]
            plan.append((index[key[0]], ins, key))
            slot[key] = ("v", key)
        self.plan = plan
        last = {}
        for i, (_, ins, _) in enumerate(plan):
            for k in ins:
                last[k] = i
        self.release = [[k for k in ins if last.get(k) == i and k not in
                         [(r[0], r[1]) for r in refs]] for i, (_, ins, _) in enumerate(plan)]

    @staticmethod
    def _arrays_for(name, cls, cfg, weights):
        exp = cls.expected(cfg)
        if not exp:
            got = weights.get(name, [])
            if got:
                raise KerasConfigError(f"layer '{name}' has no weights in Keras but the file "
                                       f"gives {len(got)}")
            return None
        if name not in weights:
            raise KerasConfigError(f"weights file has no group for layer '{name}' "
                                   f"(it needs {', '.join(n for n, _ in exp)})")
        got = weights[name]
        if len(got) != len(exp):
            raise KerasConfigError(
                f"layer '{name}': the file gives {len(got)} arrays "
                f"({', '.join(w for w, _ in got)}), the config needs {len(exp)} "
                f"({', '.join(n for n, _ in exp)}); check use_bias / center / scale")
        # Keras pairs by position. Where the file's names are the standard
        # ones, they must agree with the position.
        want = [n for n, _ in exp]
        short = [_short_weight_name(w) for w, _ in got]
        if set(short) == set(want) and short != want:
            raise KerasConfigError(f"layer '{name}': weights are in the order {short}, "
                                   f"Keras's order is {want}")
        return [np.asarray(a, dtype=np.float64 if a.dtype == np.float64 else np.float32)
                for _, a in got]

    def forward(self, *inputs):
        if len(inputs) != len(self.input_keys):
            raise ValueError(f"model takes {len(self.input_keys)} inputs, got {len(inputs)}")
        vals = {}
        for key, x in zip(self.input_keys, inputs):
            x = x.to(self.dtype_)
            vals[key] = from_logical(x)
        for i, (mi, ins, key) in enumerate(self.plan):
            y = self.mods[mi]([vals[k] for k in ins])
            if self.channels_last and y.dim() == 4:
                y = y.contiguous(memory_format=torch.channels_last)
            vals[key] = y
            for k in self.release[i]:
                if k not in self.input_keys:
                    del vals[k]
        outs = tuple(to_logical(vals[(r[0], r[1])]) for r in self.out_refs)
        return outs[0] if len(outs) == 1 else outs


def build_model(config, weights=None, layer=None, double=False, channels_last=False, seed=0):
    """Convenience: KerasModel in eval mode with gradients off."""
    m = KerasModel(config, weights, outputs=[layer] if layer else None,
                   dtype=torch.float64 if double else torch.float32,
                   channels_last=channels_last, seed=seed)
    return m.eval()


# ---------------------------------------------------------------------------
# Running cases
# ---------------------------------------------------------------------------


def run_case(config, weights, inp, layer=None, double=False):
    """Output(s) of the model (or layer) on `inp` (NHWC array or a list of
    arrays), as float32 NumPy arrays."""
    if config is None:
        if not isinstance(weights, str):
            raise KerasConfigError("no config given and no weights file to read one from")
        wd, mc = read_h5_weights(weights)
        if mc is None:
            raise KerasConfigError(f"{weights} has no model_config; pass --config")
        config, weights = mc, wd
    m = build_model(config, weights, layer=layer, double=double)
    xs = inp if isinstance(inp, (list, tuple)) else [inp]
    with torch.no_grad():
        y = m(*[torch.from_numpy(np.ascontiguousarray(x)) for x in xs])
    ys = y if isinstance(y, tuple) else (y,)
    return [t.detach().to(torch.float32).contiguous().numpy() for t in ys]


def _save_outputs(path, ys):
    if len(ys) == 1:
        np.save(path, ys[0])
    else:
        root, ext = os.path.splitext(path)
        for i, y in enumerate(ys):
            np.save(f"{root}_{i}{ext or '.npy'}", y)


def run_batch(manifest):
    """Runs every case of a manifest in one process. The manifest is JSON:
    {"cases": [{"name": ..., "config": PATH, "weights": PATH or null,
    "input": PATH, "output": PATH, "layer": NAME or null,
    "double": bool}]} (a bare list of cases works too). Each case writes
    its output .npy, or OUTPUT.err with the reason on failure; one line per
    case on stdout. Returns the number of failed cases."""
    with open(manifest, "r", encoding="utf-8") as f:
        man = json.load(f)
    cases = man["cases"] if isinstance(man, dict) else man
    failed = 0
    import time
    for c in cases:
        name = c.get("name", c.get("output"))
        t0 = time.perf_counter()
        out = c["output"]
        try:
            if os.path.exists(out + ".err"):
                os.remove(out + ".err")
            x = np.load(c["input"])
            ys = run_case(c.get("config"), c.get("weights"), x, c.get("layer"),
                          bool(c.get("double", False)))
            _save_outputs(out, ys)
            print(f"keras_torch: {name}: ok {tuple(ys[0].shape)} "
                  f"{time.perf_counter() - t0:.2f} s", flush=True)
        except Exception as e:  # report and go on with the other cases
            failed += 1
            msg = f"{type(e).__name__}: {e}"
            with open(out + ".err", "w", encoding="utf-8") as f:
                f.write(msg + "\n")
            print(f"keras_torch: {name}: FAILED: {msg}", flush=True)
    return failed


# ---------------------------------------------------------------------------
# Self-check: hand-computed cases through the whole path (config dict ->
# h5 file -> module -> output)
# ---------------------------------------------------------------------------


def _kt(name, hist):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": "float32", "keras_history": [name, hist, 0]}}


class ConfigBuilder:
    """Writes configs the way Keras 3's Functional.get_config() does
    (module/class_name/config/registered_name, inbound_nodes with
    {"args": [...keras tensors...], "kwargs": {}}); used by the self-check
    and by tests that need a model without zoo."""

    def __init__(self, name="model"):
        self.name = name
        self.layers = []
        self.inputs = []

    def input(self, shape, name="input_layer"):
        self.layers.append({
            "module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": [None] + list(shape), "dtype": "float32",
                       "sparse": False, "ragged": False, "name": name, "optional": False},
            "registered_name": None, "name": name, "inbound_nodes": []})
        self.inputs.append([name, 0, 0])
        return name

    @staticmethod
    def _args(inputs):
        """A layer name (its call 0), (name, call), or a list of those."""
        def one(i):
            return _kt(i, 0) if isinstance(i, str) else _kt(i[0], i[1])
        if isinstance(inputs, (str, tuple)):
            return [one(inputs)]
        return [[one(i) for i in inputs]]

    def layer(self, cls, name, inputs, **cfg):
        c = {"name": name, "trainable": True,
             "dtype": {"module": "keras", "class_name": "DTypePolicy",
                       "config": {"name": "float32"}, "registered_name": None}}
        c.update(cfg)
        self.layers.append({"module": "keras.layers", "class_name": cls, "config": c,
                            "registered_name": None, "name": name,
                            "inbound_nodes": [{"args": self._args(inputs), "kwargs": {}}]})
        return name

    def call(self, name, inputs):
        """Calls an existing layer again (shared weights); returns (name, call)."""
        for ld in self.layers:
            if ld["name"] == name:
                ld["inbound_nodes"].append({"args": self._args(inputs), "kwargs": {}})
                return (name, len(ld["inbound_nodes"]) - 1)
        raise KeyError(name)

    def config(self, outputs):
        outs = [[o, 0, 0] if isinstance(o, str) else [o[0], o[1], 0]
                for o in ([outputs] if isinstance(outputs, (str, tuple)) else outputs)]
        return {"class_name": "Functional",
                "config": {"name": self.name, "trainable": True, "layers": self.layers,
                           "input_layers": self.inputs, "output_layers": outs}}


def _selfcheck_cases():
    """(description, config, {layer: [(weight, array)]}, input, expected)."""
    cases = []
    f32 = np.float32

    # 1. AveragePooling2D 3x3 stride 1 'same' on a 3x3 map: the corner
    #    window holds 4 real cells, the edge 6, the centre 9.
    b = ConfigBuilder()
    i = b.input((3, 3, 1))
    b.layer("AveragePooling2D", "pool", i, pool_size=[3, 3], strides=[1, 1],
            padding="same", data_format="channels_last")
    x = np.arange(9, dtype=f32).reshape(1, 3, 3, 1)
    want = np.array([[(0 + 1 + 3 + 4) / 4, (0 + 1 + 2 + 3 + 4 + 5) / 6, (1 + 2 + 4 + 5) / 4],
                     [(0 + 1 + 3 + 4 + 6 + 7) / 6, 36 / 9, (1 + 2 + 4 + 5 + 7 + 8) / 6],
                     [(3 + 4 + 6 + 7) / 4, (3 + 4 + 5 + 6 + 7 + 8) / 6, (4 + 5 + 7 + 8) / 4]],
                    dtype=f32).reshape(1, 3, 3, 1)
    cases.append(("avg-pool 'same' divides by real cells (corner 4, edge 6)",
                  b.config("pool"), {}, x, want))

    # 2. AveragePooling2D 2x2 stride 2 'same' on 3x3: TF pads 1 at the
    #    bottom/right only; the last row/column windows hold 2 or 1 cells.
    b = ConfigBuilder()
    i = b.input((3, 3, 1))
    b.layer("AveragePooling2D", "pool", i, pool_size=[2, 2], strides=[2, 2],
            padding="same", data_format="channels_last")
    want = np.array([[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2],
                     [(6 + 7) / 2, 8.0]], dtype=f32).reshape(1, 2, 2, 1)
    cases.append(("avg-pool 2x2/2 'same' pads bottom/right only", b.config("pool"), {}, x, want))

    # 3. MaxPooling2D 3x3 stride 2 'same' on all-negative input: padded
    #    cells never win (a zero pad would give 0).
    b = ConfigBuilder()
    i = b.input((4, 4, 1))
    b.layer("MaxPooling2D", "pool", i, pool_size=[3, 3], strides=[2, 2],
            padding="same", data_format="channels_last")
    xm = -1.0 - np.arange(16, dtype=f32).reshape(1, 4, 4, 1)
    # TF: out 2, total pad 1 -> top 0, bottom 1. Windows rows {0,1,2},{2,3}.
    want = np.array([[-1.0, -3.0], [-9.0, -11.0]], dtype=f32).reshape(1, 2, 2, 1)
    cases.append(("max-pool 'same' ignores padding (negative input)", b.config("pool"), {}, xm,
                  want))

    # 4. Conv2D 3x3 stride 2 'same' on 4x4 with a ones kernel: total pad 1,
    #    all of it bottom/right (a symmetric pad would shift every window).
    b = ConfigBuilder()
    i = b.input((4, 4, 1))
    b.layer("Conv2D", "conv", i, filters=1, kernel_size=[3, 3], strides=[2, 2],
            padding="same", data_format="channels_last", dilation_rate=[1, 1],
            groups=1, activation="linear", use_bias=False)
    x4 = np.arange(16, dtype=f32).reshape(1, 4, 4, 1)
    g = x4[0, :, :, 0]
    gp = np.pad(g, ((0, 1), (0, 1)))
    want = np.array([[gp[0:3, 0:3].sum(), gp[0:3, 2:5].sum()],
                     [gp[2:5, 0:3].sum(), gp[2:5, 2:5].sum()]], dtype=f32).reshape(1, 2, 2, 1)
    assert want[0, 0, 0, 0] == 0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10  # 45
    assert want[0, 1, 1, 0] == 10 + 11 + 14 + 15  # 50
    cases.append(("conv 3x3/2 'same' on 4x4: pad only bottom/right", b.config("conv"),
                  {"conv": [("kernel", np.ones((3, 3, 1, 1), f32))]}, x4, want))

    # 5. Conv2D kernel layout (kh, kw, cin, cout), no flip, plus bias and
    #    relu: a 2x1 kernel picking row r with channel weights.
    b = ConfigBuilder()
    i = b.input((2, 2, 2))
    b.layer("Conv2D", "conv", i, filters=2, kernel_size=[2, 1], strides=[1, 1],
            padding="valid", activation="relu", use_bias=True)
    k = np.zeros((2, 1, 2, 2), f32)
    k[0, 0, 0, 0] = 1.0    # out 0 = top pixel, channel 0
    k[1, 0, 1, 1] = -2.0   # out 1 = -2 * bottom pixel, channel 1
    xc = np.array([[[[1, 2], [3, 4]], [[5, -6], [7, 8]]]], dtype=f32)  # (1,2,2,2)
    bias = np.array([0.5, 1.0], f32)
    want = np.array([[[[1.5, max(0, 12 + 1.0)], [3.5, max(0, -16 + 1.0)]]]], dtype=f32)
    cases.append(("conv kernel (kh,kw,cin,cout), bias, relu", b.config("conv"),
                  {"conv": [("kernel", k), ("bias", bias)]}, xc, want))

    # 6. Flatten follows NHWC row-major (h, w, c) order; Dense after it.
    b = ConfigBuilder()
    i = b.input((2, 2, 3))
    b.layer("Flatten", "flatten", i, data_format="channels_last")
    xf = np.arange(12, dtype=f32).reshape(1, 2, 2, 3)
    cases.append(("flatten is NHWC row-major", b.config("flatten"), {}, xf,
                  np.arange(12, dtype=f32).reshape(1, 12)))
    b = ConfigBuilder()
    i = b.input((2, 2, 3))
    b.layer("Flatten", "flatten", i)
    b.layer("Dense", "fc", "flatten", units=1, activation="linear", use_bias=True)
    wfc = np.zeros((12, 1), f32)
    wfc[(1 * 2 + 0) * 3 + 2, 0] = 1.0  # row (h=1, w=0, c=2) -> x value 8
    cases.append(("dense row (h*W + w)*C + c after flatten", b.config("fc"),
                  {"fc": [("kernel", wfc), ("bias", np.array([0.25], f32))]}, xf,
                  np.array([[8.25]], f32)))

    # 7. DepthwiseConv2D with depth_multiplier 2: output channel c*M + m
    #    uses kernel[:, :, c, m]; a 1x1 kernel of 10*c + m + 1.
    b = ConfigBuilder()
    i = b.input((1, 1, 3))
    b.layer("DepthwiseConv2D", "dw", i, kernel_size=[1, 1], strides=[1, 1],
            padding="valid", depth_multiplier=2, activation="linear", use_bias=False)
    kd = np.zeros((1, 1, 3, 2), f32)
    for c in range(3):
        for m in range(2):
            kd[0, 0, c, m] = 10 * c + m + 1
    xd = np.array([1.0, 2.0, 3.0], f32).reshape(1, 1, 1, 3)
    want = np.array([1 * 1, 1 * 2, 2 * 11, 2 * 12, 3 * 21, 3 * 22], f32).reshape(1, 1, 1, 6)
    cases.append(("depthwise channel order c*M + m", b.config("dw"),
                  {"dw": [("depthwise_kernel", kd)]}, xd, want))

    # 8. SeparableConv2D = depthwise then pointwise then bias (no BN/act
    #    between): 1x1 depthwise scaling channel c by (c+1), pointwise sum.
    b = ConfigBuilder()
    i = b.input((1, 1, 2))
    b.layer("SeparableConv2D", "sep", i, filters=1, kernel_size=[1, 1], strides=[1, 1],
            padding="same", depth_multiplier=1, activation="linear", use_bias=True)
    xs_ = np.array([3.0, -4.0], f32).reshape(1, 1, 1, 2)
    cases.append(("separable conv: depthwise -> pointwise -> bias", b.config("sep"),
                  {"sep": [("depthwise_kernel", np.array([1.0, 2.0], f32).reshape(1, 1, 2, 1)),
                           ("pointwise_kernel", np.array([1.0, 1.0], f32).reshape(1, 1, 2, 1)),
                           ("bias", np.array([0.5], f32))]},
                  xs_, np.array([3.0 - 8.0 + 0.5], f32).reshape(1, 1, 1, 1)))

    # 9. BatchNormalization with scale=False (InceptionV3's): beta, mean,
    #    var only; y = (x - mean)/sqrt(var + eps) + beta.
    b = ConfigBuilder()
    i = b.input((1, 1, 2))
    b.layer("BatchNormalization", "bn", i, axis=-1, momentum=0.99, epsilon=1e-3,
            center=True, scale=False)
    xb = np.array([1.0, 2.0], f32).reshape(1, 1, 1, 2)
    beta = np.array([0.5, -0.5], f32)
    mean = np.array([0.0, 1.0], f32)
    var = np.array([3.999, 0.249], f32)
    want = ((xb.reshape(2) - mean) / np.sqrt(var.astype(np.float64) + 1e-3) + beta)
    cases.append(("batch norm scale=False: (x-mean)/sqrt(var+eps)+beta", b.config("bn"),
                  {"bn": [("beta", beta), ("moving_mean", mean), ("moving_variance", var)]},
                  xb, want.astype(f32).reshape(1, 1, 1, 2)))

    # 10. Keras 3 ReLU(max_value=6, negative_slope=0.1, threshold=1).
    b = ConfigBuilder()
    i = b.input((1, 1, 5))
    b.layer("ReLU", "relu", i, max_value=6.0, negative_slope=0.1, threshold=1.0)
    xr = np.array([-1.0, 0.5, 1.0, 3.0, 10.0], f32).reshape(1, 1, 1, 5)
    want = np.array([0.1 * (-1 - 1), 0.1 * (0.5 - 1), 0.0, 3.0, 6.0], f32).reshape(1, 1, 1, 5)
    cases.append(("ReLU(max_value, negative_slope, threshold)", b.config("relu"), {}, xr, want))

    # 11. hard_sigmoid = relu6(x + 3)/6 (Keras 3), swish = x*sigmoid(x).
    b = ConfigBuilder()
    i = b.input((1, 1, 4))
    b.layer("Activation", "hs", i, activation="hard_sigmoid")
    xh = np.array([-4.0, -3.0, 0.0, 1.5], f32).reshape(1, 1, 1, 4)
    cases.append(("hard_sigmoid = relu6(x+3)/6", b.config("hs"), {}, xh,
                  np.array([0.0, 0.0, 0.5, 0.75], f32).reshape(1, 1, 1, 4)))
    b = ConfigBuilder()
    i = b.input((1, 1, 2))
    b.layer("Activation", "sw", i, activation="swish")
    xw = np.array([0.0, 2.0], f32).reshape(1, 1, 1, 2)
    cases.append(("swish = x*sigmoid(x)", b.config("sw"), {}, xw,
                  np.array([0.0, 2.0 / (1.0 + math.exp(-2.0))], f32).reshape(1, 1, 1, 2)))

    # 12. Concatenate on the channel axis, softmax over channels, CustomScale.
    b = ConfigBuilder()
    i = b.input((1, 2, 1))
    b.layer("Concatenate", "cat", [i, i], axis=-1)
    b.layer("Activation", "sm", "cat", activation="softmax")
    xs2 = np.array([0.0, math.log(3.0)], f32).reshape(1, 1, 2, 1)
    cases.append(("concatenate axis -1 then softmax over channels", b.config("sm"), {}, xs2,
                  np.full((1, 1, 2, 2), 0.5, f32)))
    b = ConfigBuilder()
    i = b.input((1, 1, 2))
    b.layer("ZeroPadding2D", "pad", i, padding=[[0, 1], [1, 0]])
    b.layer("Cropping2D", "crop", "pad", cropping=[[1, 0], [0, 1]])
    b.layer("CustomScaleLayer", "scale", [i, "crop"], scale=0.5)
    xcs = np.array([1.0, 2.0], f32).reshape(1, 1, 1, 2)
    # pad: 2x2, x at (0,1); crop rows 1.., cols ..0 -> (1,0) is zero.
    cases.append(("ZeroPadding2D ((0,1),(1,0)) + Cropping2D + CustomScaleLayer",
                  b.config("scale"), {}, xcs, xcs.copy()))

    # 13. Reshape follows logical order; GlobalAveragePooling keepdims.
    b = ConfigBuilder()
    i = b.input((2, 2, 3))
    b.layer("GlobalAveragePooling2D", "gap", i, keepdims=True)
    b.layer("Reshape", "rs", "gap", target_shape=[3])
    cases.append(("GAP keepdims then Reshape((C,))", b.config("rs"), {}, xf,
                  xf.reshape(4, 3).mean(0).reshape(1, 3)))
    b = ConfigBuilder()
    i = b.input((2, 2, 3))
    b.layer("Reshape", "rs", i, target_shape=[3, 2, 2])
    cases.append(("Reshape of NHWC data keeps row-major order", b.config("rs"), {}, xf,
                  xf.reshape(1, 3, 2, 2)))
    # 14. MaxPooling2D 3x3 stride 1 'same' (symmetric pad, torch's own
    #     -inf padding) on negative input.
    b = ConfigBuilder()
    i = b.input((3, 3, 1))
    b.layer("MaxPooling2D", "pool", i, pool_size=[3, 3], strides=[1, 1], padding="same")
    xn = -1.0 - np.arange(9, dtype=f32).reshape(1, 3, 3, 1)
    want = np.array([[-1, -1, -2], [-1, -1, -2], [-4, -4, -5]], f32).reshape(1, 3, 3, 1)
    cases.append(("max-pool 3x3/1 'same' (symmetric pad) ignores padding", b.config("pool"), {},
                  xn, want))

    # 15. A layer called twice (shared weights, node index 1), written in
    #     Keras 2's legacy node format ([[name, node, tensor, kwargs]]).
    legacy = {"class_name": "Model", "config": {
        "name": "legacy", "layers": [
            {"class_name": "InputLayer", "name": "input_1",
             "config": {"batch_input_shape": [None, 2], "name": "input_1"},
             "inbound_nodes": []},
            {"class_name": "Dense", "name": "shared",
             "config": {"name": "shared", "units": 2, "activation": "linear",
                        "use_bias": True},
             "inbound_nodes": [[["input_1", 0, 0, {}]], [["shared", 0, 0, {}]]]},
            {"class_name": "Add", "name": "add", "config": {"name": "add"},
             "inbound_nodes": [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["add", 0, 0]]}}
    wsh = np.array([[1.0, 2.0], [0.0, 1.0]], f32)  # (in, out): y = x @ W + b
    bsh = np.array([1.0, -1.0], f32)
    xl = np.array([[1.0, 1.0]], f32)
    y1 = xl @ wsh + bsh          # [2, 2]
    y2 = y1 @ wsh + bsh          # [3, 5]
    cases.append(("shared layer (node 1) in Keras 2's legacy node format", legacy,
                  {"shared": [("kernel", wsh), ("bias", bsh)]}, xl, (y1 + y2).astype(f32)))
    return cases


def selfcheck(verbose=True):
    """Runs the hand-computed cases through config -> .h5 -> module, in
    float32 and float64. Returns the number of failures."""
    failures = 0
    with tempfile.TemporaryDirectory(prefix="keras_torch_check_") as tmp:
        for n, (desc, cfg, wts, x, want) in enumerate(_selfcheck_cases()):
            layer_order = [ld["name"] for ld in cfg["config"]["layers"]]
            h5 = os.path.join(tmp, f"case{n}.h5")
            write_h5_weights(h5, wts, layer_order)
            for double in (False, True):
                try:
                    got = run_case(json.dumps(cfg), h5, x, double=double)[0]
                    ok = got.shape == want.shape and np.allclose(got, want, rtol=1e-6, atol=1e-6)
                    why = "" if ok else f"got {got.ravel().tolist()}, want {want.ravel().tolist()}"
                except Exception as e:
                    ok, why = False, f"{type(e).__name__}: {e}"
                if not ok:
                    failures += 1
                if verbose and (not ok or not double):
                    print(f"selfcheck {'ok  ' if ok else 'FAIL'} {desc}"
                          f"{' (float64)' if double else ''}{': ' + why if why else ''}")
        # Weight loading: a full-model file ('model_weights' group, chunked
        # weight names) gives the same as the plain layout.
        try:
            desc, cfg, wts, x, want = _selfcheck_cases()[4]
            import h5py
            h5 = os.path.join(tmp, "full.h5")
            with h5py.File(h5, "w") as f:
                f.attrs["model_config"] = json.dumps(cfg).encode("utf-8")
                mw = f.create_group("model_weights")
                names = [ld["name"] for ld in cfg["config"]["layers"]]
                mw.attrs["layer_names0"] = np.array([names[0].encode()], dtype="S")
                mw.attrs["layer_names1"] = np.array([names[1].encode()], dtype="S")
                for nm in names:
                    g = mw.create_group(nm)
                    ws = wts.get(nm, [])
                    if not ws:
                        g.attrs["weight_names"] = np.array([], dtype=np.float64)
                    for j, (wn, a) in enumerate(ws):
                        g.attrs[f"weight_names{j}"] = np.array([f"{nm}/{wn}:0".encode()],
                                                               dtype="S")
                        g.create_dataset(f"{nm}/{wn}:0", data=a)
            got = run_case(None, h5, x)[0]
            ok = np.allclose(got, want, rtol=1e-6, atol=1e-6)
        except Exception as e:
            ok, got = False, e
        failures += not ok
        if verbose:
            print(f"selfcheck {'ok  ' if ok else 'FAIL'} full-model .h5 (model_config, "
                  f"model_weights, chunked names){'' if ok else ': ' + str(got)}")
        # A swapped weight order must be refused, not silently used.
        try:
            desc, cfg, wts, x, want = _selfcheck_cases()[4]
            bad = {"conv": list(reversed(wts["conv"]))}
            h5 = os.path.join(tmp, "bad.h5")
            write_h5_weights(h5, bad, [ld["name"] for ld in cfg["config"]["layers"]])
            run_case(json.dumps(cfg), h5, x)
            ok = False
        except KerasConfigError:
            ok = True
        failures += not ok
        if verbose:
            print(f"selfcheck {'ok  ' if ok else 'FAIL'} kernel/bias in the wrong order is "
                  "an error")
    if verbose:
        print(f"selfcheck: {failures} failure(s)")
    return failures


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Evaluate a Keras model config + legacy .h5 weights with PyTorch "
                    "(Keras NHWC semantics).")
    p.add_argument("--config", help="model config JSON (Keras get_config, wrapped as "
                   "{'class_name': 'Functional', 'config': ...}); default: the weights "
                   "file's model_config")
    p.add_argument("--weights", help="legacy Keras .h5 (save_weights or full model); "
                   "default: seeded random weights")
    p.add_argument("--input", action="append", help="input .npy, NHWC (repeat for several "
                   "model inputs)")
    p.add_argument("--output", help="output .npy (float32; several outputs: NAME_i.npy)")
    p.add_argument("--layer", help="output of this layer instead of the model's outputs")
    p.add_argument("--double", action="store_true", help="compute in float64")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="seed for random weights")
    p.add_argument("--batch", metavar="MANIFEST", help="run every case of a JSON manifest")
    p.add_argument("--selfcheck", action="store_true",
                   help="check hand-computed cases; exit status 0 when all pass")
    a = p.parse_args(argv)
    torch.set_grad_enabled(False)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.selfcheck:
        return 1 if selfcheck() else 0
    if a.batch:
        return 1 if run_batch(a.batch) else 0
    if not a.input or not a.output:
        p.error("--input and --output are required (or --batch / --selfcheck)")
    try:
        xs = [np.load(path) for path in a.input]
        weights = a.weights
        config = a.config
        if weights is None:
            if config is None:
                p.error("--config is required without --weights")
            m = build_model(config, None, layer=a.layer, double=a.double, seed=a.seed)
            with torch.no_grad():
                y = m(*[torch.from_numpy(np.ascontiguousarray(x)) for x in xs])
            ys = [t.to(torch.float32).contiguous().numpy()
                  for t in (y if isinstance(y, tuple) else (y,))]
        else:
            ys = run_case(config, weights, xs if len(xs) > 1 else xs[0], a.layer, a.double)
        _save_outputs(a.output, ys)
    except (KerasConfigError, OSError, KeyError) as e:
        print(f"keras_torch: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
