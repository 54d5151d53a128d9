#!/usr/bin/python3
"""Generates randomized layer test cases with an independent reference.

Usage: layer_cases.py OUT_DIR

Writes OUT_DIR/manifest.json and, per case, its inputs, weights and
expected output as little-endian float32 .npy files. The C test
tests/test_layers_oracle.c builds each case as Input(s) -> layer -> Model,
copies the weights in, runs zoo_model_predict and compares.

The reference is NumPy / PyTorch computed in float64, with Keras semantics
written out here rather than borrowed from a Keras-compatible library:
  - tensors are NHWC; torch ops run on NCHW copies;
  - Conv2D kernels are (kh, kw, cin, cout) -> torch (cout, cin, kh, kw);
  - DepthwiseConv2D kernels are (kh, kw, cin, M); output channel c*M + m
    uses kernel[:, :, c, m] -> torch groups=cin weight (cin*M, 1, kh, kw);
  - 'same' padding uses TensorFlow's rule (the odd pixel goes bottom/right),
    applied explicitly with F.pad before a 'valid' op;
  - average pooling 'same' divides a zero-padded window sum by the number of
    real cells (a pooled ones mask); max pooling 'same' pads with -inf.

Manifest config fields use the names of the C cfg structs in engine.h
(filters, kernel, strides, dilation, depth_multiplier, padding, activation,
no_bias, units, epsilon, no_scale, no_center, max_value, negative_slope,
threshold, pool, keepdims, pad, crop, shape, axis, rate, scale). Weights
are listed in Keras's weight order with Keras's weight names.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240611
rng = np.random.default_rng(SEED)
torch.set_grad_enabled(False)

# ---------------------------------------------------------------------------
# Reference arithmetic
# ---------------------------------------------------------------------------


def tf_same_pads(n, k, s, d=1):
    """TensorFlow 'same': out = ceil(n/s); the odd pixel goes after."""
    keff = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + keff - n, 0)
    return total // 2, total - total // 2


def to_nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).permute(0, 3, 1, 2)


def to_nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous().numpy()


def pad_for(x, padding, k, s, d, value=0.0):
    """Explicit padding of an NCHW tensor so a 'valid' op gives Keras's
    result for `padding`."""
    if padding == "valid":
        return x
    H, W = x.shape[2], x.shape[3]
    t, b = tf_same_pads(H, k[0], s[0], d[0])
    l, r = tf_same_pads(W, k[1], s[1], d[1])
    return F.pad(x, (l, r, t, b), mode="constant", value=value)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "softmax": softmax,
    "swish": lambda x: x * sigmoid(x),
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
}


def act(name, x):
    with np.errstate(over="ignore"):
        return ACTIVATIONS[name](x)


def conv2d_ref(x, kernel, bias, strides, padding, dilation, activation):
    k = kernel.shape[:2]
    xt = pad_for(to_nchw(x), padding, k, strides, dilation)
    w = torch.from_numpy(kernel.astype(np.float64)).permute(3, 2, 0, 1)
    y = F.conv2d(xt, w, stride=tuple(strides), dilation=tuple(dilation))
    y = to_nhwc(y)
    if bias is not None:
        y = y + bias.astype(np.float64)
    return act(activation, y)


def depthwise_ref(x, dkernel, strides, padding, dilation):
    kh, kw, cin, m = dkernel.shape
    xt = pad_for(to_nchw(x), padding, (kh, kw), strides, dilation)
    # channel c*M + m  <-  dkernel[:, :, c, m]
    w = torch.from_numpy(dkernel.astype(np.float64).reshape(kh, kw, cin * m))
    w = w.permute(2, 0, 1).unsqueeze(1).contiguous()
    y = F.conv2d(xt, w, stride=tuple(strides), dilation=tuple(dilation), groups=cin)
    return to_nhwc(y)


def pool_ref(kind, x, pool, strides, padding):
    xt = to_nchw(x)
    if kind == "max":
        xp = pad_for(xt, padding, pool, strides, (1, 1), value=-np.inf)
        return to_nhwc(F.max_pool2d(xp, tuple(pool), tuple(strides)))
    xp = pad_for(xt, padding, pool, strides, (1, 1), value=0.0)
    sums = F.avg_pool2d(xp, tuple(pool), tuple(strides), divisor_override=1)
    ones = torch.ones_like(xt[:, :1])
    onesp = pad_for(ones, padding, pool, strides, (1, 1), value=0.0)
    counts = F.avg_pool2d(onesp, tuple(pool), tuple(strides), divisor_override=1)
    return to_nhwc(sums / counts)


def keras_relu(x, max_value, negative_slope, threshold):
    """Keras ReLU(max_value, negative_slope, threshold), written piecewise:
    max_value where x >= max_value, x where threshold < x < max_value,
    negative_slope * (x - threshold) where x <= threshold."""
    y = np.where(x > threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        y = np.where(x >= max_value, max_value, y)
    return y


# ---------------------------------------------------------------------------
# Case bookkeeping
# ---------------------------------------------------------------------------

OUT = None
CASES = []


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype="<f4"))


def save(name, arr):
    path = os.path.join(OUT, name)
    np.save(path, f32(arr))
    return name


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def randu(lo, hi, *shape):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def add_case(family, layer, name, config, inputs, weights, expected):
    """inputs: list of float32 arrays; weights: list of (keras_name, array);
    expected: float64 array (saved as float32)."""
    full = f"{family}__{name}"
    assert not any(c["name"] == full for c in CASES), full
    case = {
        "name": full,
        "family": family,
        "layer": layer,
        "config": config,
        "inputs": [save(f"{full}.in{i}.npy", x) for i, x in enumerate(inputs)],
        "weights": [
            {"name": wn, "file": save(f"{full}.w{i}_{wn}.npy", w)}
            for i, (wn, w) in enumerate(weights)
        ],
        "output": save(f"{full}.out.npy", expected),
        "output_shape": list(np.shape(expected)),
    }
    CASES.append(case)


def pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


# ---------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------


def conv2d_cases():
    # (name, batch, H, W, cin, cout, kernel, strides, padding, dilation,
    #  activation, use_bias)
    specs = [
        ("3x3_same_s1_odd_relu", 2, 7, 7, 3, 4, 3, 1, "same", 1, "relu", True),
        ("3x3_same_s1_even", 1, 6, 6, 2, 3, 3, 1, "same", 1, "linear", True),
        ("3x3_same_s2_even", 2, 8, 8, 2, 3, 3, 2, "same", 1, "linear", True),
        ("3x3_same_s2_odd", 1, 7, 7, 2, 3, 3, 2, "same", 1, "linear", True),
        ("3x3_valid_s1_rect", 2, 6, 5, 3, 4, 3, 1, "valid", 1, "linear", True),
        ("3x3_valid_s2_odd", 1, 9, 8, 3, 2, 3, 2, "valid", 1, "relu", True),
        ("3x3_valid_s2_even", 1, 8, 8, 2, 2, 3, 2, "valid", 1, "linear", True),
        ("5x5_same_s1_d2", 1, 9, 9, 2, 3, 5, 1, "same", 2, "linear", True),
        ("3x3_valid_s1_d2", 2, 8, 7, 2, 3, 3, 1, "valid", 2, "linear", True),
        ("3x3_same_d2_even", 1, 6, 6, 3, 2, 3, 1, "same", 2, "linear", True),
        ("1x1_s1_nobias", 2, 5, 5, 4, 6, 1, 1, "valid", 1, "linear", False),
        ("1x1_s2_valid_even", 1, 8, 8, 3, 5, 1, 2, "valid", 1, "linear", True),
        ("1x1_s2_same_odd", 1, 7, 7, 3, 5, 1, 2, "same", 1, "linear", False),
        ("1x7_same", 2, 6, 9, 3, 4, (1, 7), 1, "same", 1, "relu", False),
        ("7x1_same", 1, 9, 6, 3, 4, (7, 1), 1, "same", 1, "relu", False),
        ("1x3_valid", 1, 5, 6, 2, 3, (1, 3), 1, "valid", 1, "linear", True),
        ("2x2_same_s1", 1, 5, 5, 2, 2, 2, 1, "same", 1, "linear", True),
        ("4x4_same_s2_odd", 1, 7, 7, 2, 3, 4, 2, "same", 1, "linear", True),
        ("3x3_same_s2x1", 1, 7, 6, 2, 3, 3, (2, 1), "same", 1, "linear", True),
        ("7x7_valid_s2_stem", 1, 15, 15, 3, 4, 7, 2, "valid", 1, "relu", False),
        ("3x3_same_on_1x1", 2, 1, 1, 3, 2, 3, 1, "same", 1, "linear", True),
        ("5x5_same_s2_on_2x3", 1, 2, 3, 2, 2, 5, 2, "same", 1, "linear", True),
        ("3x3_same_sigmoid", 1, 5, 5, 3, 3, 3, 1, "same", 1, "sigmoid", True),
        ("3x3_valid_cin1", 2, 5, 5, 1, 2, 3, 1, "valid", 1, "linear", True),
        ("3x3_same_s1_wide", 1, 4, 5, 16, 24, 3, 1, "same", 1, "relu", True),
        # big enough for blocked / multi-threaded GEMM paths
        ("3x3_same_s1_c32_c64", 2, 9, 9, 32, 64, 3, 1, "same", 1, "relu", True),
        ("3x3_same_s2_c24_c40", 2, 10, 11, 24, 40, 3, 2, "same", 1, "linear", False),
        ("1x1_s1_c96_c130", 2, 6, 6, 96, 130, 1, 1, "valid", 1, "linear", True),
    ]
    for (name, n, h, w, cin, cout, k, s, pad, d, a, use_bias) in specs:
        k, s, d = pair(k), pair(s), pair(d)
        x = randn(n, h, w, cin)
        kernel = randu(-0.5, 0.5, k[0], k[1], cin, cout)
        weights = [("kernel", kernel)]
        bias = None
        if use_bias:
            bias = randn(cout, scale=0.2)
            weights.append(("bias", bias))
        y = conv2d_ref(x, kernel, bias, s, pad, d, a)
        cfg = {"filters": cout, "kernel": k, "strides": s, "dilation": d,
               "padding": pad, "activation": a, "no_bias": not use_bias}
        add_case("conv2d", "Conv2D", name, cfg, [x], weights, y)


def depthwise_cases():
    # (name, batch, H, W, cin, M, k, strides, padding, dilation, act, bias)
    specs = [
        ("3x3_same_s1_m1", 2, 7, 7, 3, 1, 3, 1, "same", 1, "linear", True),
        ("3x3_same_s2_m1_even", 1, 8, 8, 3, 1, 3, 2, "same", 1, "relu6", False),
        ("3x3_same_s2_m1_odd", 1, 9, 9, 2, 1, 3, 2, "same", 1, "linear", True),
        ("3x3_valid_s2_m1", 2, 9, 9, 3, 1, 3, 2, "valid", 1, "linear", False),
        ("3x3_valid_s1_m1", 1, 6, 5, 4, 1, 3, 1, "valid", 1, "relu", True),
        ("3x3_same_s1_m2", 2, 6, 6, 3, 2, 3, 1, "same", 1, "linear", True),
        ("3x3_valid_s2_m2", 1, 7, 7, 3, 2, 3, 2, "valid", 1, "linear", True),
        ("3x3_same_s2_m2_even", 1, 8, 6, 2, 2, 3, 2, "same", 1, "linear", False),
        ("5x5_same_s2_odd", 1, 9, 9, 2, 1, 5, 2, "same", 1, "linear", True),
        ("3x3_same_d2", 1, 7, 7, 2, 1, 3, 1, "same", 2, "linear", True),
        ("1x3_valid_m3", 1, 4, 6, 2, 3, (1, 3), 1, "valid", 1, "linear", True),
        ("3x3_same_s1_c16", 1, 5, 5, 16, 1, 3, 1, "same", 1, "relu6", False),
        ("3x3_same_s2_c48", 2, 11, 10, 48, 1, 3, 2, "same", 1, "relu6", True),
    ]
    for (name, n, h, w, cin, m, k, s, pad, d, a, use_bias) in specs:
        k, s, d = pair(k), pair(s), pair(d)
        x = randn(n, h, w, cin)
        dk = randu(-0.5, 0.5, k[0], k[1], cin, m)
        weights = [("depthwise_kernel", dk)]
        y = depthwise_ref(x, dk, s, pad, d)
        if use_bias:
            b = randn(cin * m, scale=0.2)
            weights.append(("bias", b))
            y = y + b.astype(np.float64)
        y = act(a, y)
        cfg = {"kernel": k, "strides": s, "dilation": d, "depth_multiplier": m,
               "padding": pad, "activation": a, "no_bias": not use_bias}
        add_case("depthwise_conv2d", "DepthwiseConv2D", name, cfg, [x], weights, y)


def separable_cases():
    # (name, batch, H, W, cin, cout, M, k, strides, padding, dilation, act, bias)
    specs = [
        ("3x3_same_s1_nobias", 2, 6, 6, 4, 5, 1, 3, 1, "same", 1, "linear", False),
        ("3x3_same_s2_odd", 1, 7, 7, 3, 4, 1, 3, 2, "same", 1, "linear", False),
        ("3x3_same_s2_even", 1, 8, 8, 3, 4, 1, 3, 2, "same", 1, "linear", True),
        ("5x5_valid_s2_m2_relu", 1, 9, 9, 3, 4, 2, 5, 2, "valid", 1, "relu", True),
        ("7x7_same_s1", 1, 7, 7, 2, 3, 1, 7, 1, "same", 1, "linear", False),
        ("3x3_same_d2", 2, 7, 6, 2, 3, 1, 3, 1, "same", 2, "linear", True),
        ("3x3_same_s1_c40_c72", 2, 8, 8, 40, 72, 1, 3, 1, "same", 1, "linear", False),
    ]
    for (name, n, h, w, cin, cout, m, k, s, pad, d, a, use_bias) in specs:
        k, s, d = pair(k), pair(s), pair(d)
        x = randn(n, h, w, cin)
        dk = randu(-0.5, 0.5, k[0], k[1], cin, m)
        pk = randu(-0.5, 0.5, 1, 1, cin * m, cout)
        weights = [("depthwise_kernel", dk), ("pointwise_kernel", pk)]
        y = depthwise_ref(x, dk, s, pad, d)
        y = np.einsum("nhwc,co->nhwo", y, pk[0, 0].astype(np.float64))
        if use_bias:
            b = randn(cout, scale=0.2)
            weights.append(("bias", b))
            y = y + b.astype(np.float64)
        y = act(a, y)
        cfg = {"filters": cout, "kernel": k, "strides": s, "dilation": d,
               "depth_multiplier": m, "padding": pad, "activation": a,
               "no_bias": not use_bias}
        add_case("separable_conv2d", "SeparableConv2D", name, cfg, [x], weights, y)


def dense_cases():
    specs = [
        ("10to7_linear_b2", 2, 10, 7, "linear", True),
        ("10to7_relu_b1", 1, 10, 7, "relu", True),
        ("12to5_softmax", 2, 12, 5, "softmax", True),
        ("6to4_nobias", 2, 6, 4, "linear", False),
        ("8to1_sigmoid", 2, 8, 1, "sigmoid", True),
        ("1to3", 2, 1, 3, "tanh", True),
        ("64to33", 2, 64, 33, "linear", True),
        ("300to130_b3", 3, 300, 130, "relu", True),
    ]
    for (name, n, cin, units, a, use_bias) in specs:
        x = randn(n, cin)
        kernel = randu(-0.5, 0.5, cin, units)
        weights = [("kernel", kernel)]
        y = x.astype(np.float64) @ kernel.astype(np.float64)
        if use_bias:
            b = randn(units, scale=0.2)
            weights.append(("bias", b))
            y = y + b
        y = act(a, y)
        cfg = {"units": units, "activation": a, "no_bias": not use_bias}
        add_case("dense", "Dense", name, cfg, [x], weights, y)


def batch_norm_cases():
    # (name, input shape, epsilon, scale, center, small variance)
    specs = [
        ("eps1e-3", (2, 4, 5, 3), 1e-3, True, True, False),
        ("eps1.001e-5", (1, 5, 4, 6), 1.001e-5, True, True, False),
        ("no_scale", (2, 3, 3, 4), 1e-3, False, True, False),
        ("no_center", (1, 3, 3, 4), 1e-3, True, False, False),
        ("no_scale_no_center", (1, 3, 3, 2), 1e-3, False, False, False),
        ("tiny_var_eps_matters", (2, 3, 3, 3), 1e-3, True, True, True),
        ("rank2", (2, 7), 1e-3, True, True, False),
        ("default_eps", (1, 2, 2, 3), None, True, True, False),
    ]
    for (name, shape, eps, scale, center, tiny) in specs:
        c = shape[-1]
        x = randn(*shape, scale=2.0)
        gamma = randu(0.5, 1.5, c)
        beta = randn(c, scale=0.5)
        mean = randn(c, scale=0.5)
        var = randu(1e-4, 1e-3, c) if tiny else randu(0.1, 2.0, c)
        weights = []
        if scale:
            weights.append(("gamma", gamma))
        if center:
            weights.append(("beta", beta))
        weights += [("moving_mean", mean), ("moving_variance", var)]
        # torch's batch_norm wants channels on axis 1
        xt = torch.from_numpy(np.moveaxis(x.astype(np.float64), -1, 1).copy())
        y = F.batch_norm(
            xt,
            torch.from_numpy(mean.astype(np.float64)),
            torch.from_numpy(var.astype(np.float64)),
            weight=torch.from_numpy(gamma.astype(np.float64)) if scale else None,
            bias=torch.from_numpy(beta.astype(np.float64)) if center else None,
            training=False,
            eps=1e-3 if eps is None else eps,
        ).numpy()
        y = np.moveaxis(y, 1, -1)
        cfg = {"epsilon": 0.0 if eps is None else eps, "no_scale": not scale,
               "no_center": not center}
        add_case("batch_norm", "BatchNormalization", name, cfg, [x], weights, y)


def activation_cases():
    for a in ACTIVATIONS:
        x = randn(2, 3, 4, 5, scale=3.0)
        add_case("activation", "Activation", f"{a}_rank4", {"activation": a},
                 [x], [], act(a, x.astype(np.float64)))
    for a in ("softmax", "relu", "sigmoid"):
        x = randn(2, 9, scale=2.0)
        add_case("activation", "Activation", f"{a}_rank2", {"activation": a},
                 [x], [], act(a, x.astype(np.float64)))
    # Large magnitudes: softmax must subtract the max, sigmoid/swish must
    # not produce NaN for large |x|.
    for a in ("softmax", "sigmoid", "swish", "tanh"):
        x = randn(1, 2, 2, 7, scale=60.0)
        add_case("activation", "Activation", f"{a}_large", {"activation": a},
                 [x], [], act(a, x.astype(np.float64)))


def relu_cases():
    specs = [
        ("default", None, 0.0, 0.0),
        ("max6", 6.0, 0.0, 0.0),
        ("slope0.1", None, 0.1, 0.0),
        ("threshold0.5", None, 0.0, 0.5),
        ("max6_slope0.2_thr1", 6.0, 0.2, 1.0),
        ("max1", 1.0, 0.0, 0.0),
    ]
    for (name, mx, slope, thr) in specs:
        x = randn(2, 3, 3, 4, scale=5.0)
        y = keras_relu(x.astype(np.float64), mx, slope, thr)
        cfg = {"max_value": 0.0 if mx is None else mx, "negative_slope": slope,
               "threshold": thr}
        add_case("relu", "ReLU", name, cfg, [x], [], y)


def pool_cases():
    # (name, batch, H, W, C, pool, strides (None = pool), padding)
    specs = [
        ("2_default_valid_even", 2, 8, 8, 3, 2, None, "valid"),
        ("2_s2_valid_odd", 1, 7, 7, 2, 2, 2, "valid"),
        ("3_s2_valid_odd", 1, 9, 9, 2, 3, 2, "valid"),
        ("3_s2_valid_even", 2, 8, 8, 3, 3, 2, "valid"),
        ("3_s2_same_odd", 1, 7, 7, 2, 3, 2, "same"),
        ("3_s2_same_even", 2, 8, 8, 2, 3, 2, "same"),
        ("3_s1_same", 1, 5, 5, 3, 3, 1, "same"),
        ("3_s1_same_rect", 2, 4, 6, 2, 3, 1, "same"),
        ("2_s1_same", 1, 5, 5, 2, 2, 1, "same"),
        ("2_s2_same_odd", 1, 7, 7, 3, 2, 2, "same"),
        ("3_default_same_odd", 1, 7, 8, 2, 3, None, "same"),
        ("1_s2_valid", 1, 7, 7, 3, 1, 2, "valid"),
        ("3x2_s2x1_valid", 1, 7, 6, 2, (3, 2), (2, 1), "valid"),
        ("3x2_s1x2_same", 1, 5, 7, 2, (3, 2), (1, 2), "same"),
        ("3_s2_same_on_2x2", 1, 2, 2, 2, 3, 2, "same"),
    ]
    for kind, fam, layer in (("max", "max_pool2d", "MaxPooling2D"),
                             ("avg", "avg_pool2d", "AveragePooling2D")):
        for (name, n, h, w, c, p, s, pad) in specs:
            p = pair(p)
            eff = pair(s) if s is not None else p
            x = randn(n, h, w, c)
            y = pool_ref(kind, x, p, eff, pad)
            cfg = {"pool": p, "strides": [0, 0] if s is None else pair(s),
                   "padding": pad}
            add_case(fam, layer, name, cfg, [x], [], y)


def global_pool_cases():
    for fam, layer, fn in (("global_avg_pool2d", "GlobalAveragePooling2D", np.mean),
                           ("global_max_pool2d", "GlobalMaxPooling2D", np.max)):
        for (name, shape, keep) in (("b2", (2, 5, 4, 3), False),
                                    ("b1_keepdims", (1, 3, 6, 4), True),
                                    ("b2_keepdims", (2, 7, 7, 5), True),
                                    ("1x1", (2, 1, 1, 6), False)):
            x = randn(*shape)
            y = fn(x.astype(np.float64), axis=(1, 2), keepdims=keep)
            add_case(fam, layer, name, {"keepdims": keep}, [x], [], y)


def padding_cases():
    for (name, shape, pad) in (("1111", (2, 4, 5, 3), [1, 1, 1, 1]),
                               ("0101", (1, 7, 7, 2), [0, 1, 0, 1]),
                               ("3333", (1, 3, 3, 2), [3, 3, 3, 3]),
                               ("asym_2013", (2, 3, 4, 2), [2, 0, 1, 3])):
        x = randn(*shape)
        t, b, l, r = pad
        y = np.pad(x.astype(np.float64), ((0, 0), (t, b), (l, r), (0, 0)))
        add_case("zero_padding2d", "ZeroPadding2D", name, {"pad": pad}, [x], [], y)
    for (name, shape, crop) in (("1010", (2, 5, 5, 3), [1, 0, 1, 0]),
                                ("asym_1203", (1, 6, 7, 2), [1, 2, 0, 3]),
                                ("none", (1, 3, 3, 2), [0, 0, 0, 0]),
                                ("to_1x1", (2, 4, 4, 2), [1, 2, 2, 1])):
        x = randn(*shape)
        t, b, l, r = crop
        H, W = shape[1], shape[2]
        y = x[:, t:H - b, l:W - r, :].astype(np.float64)
        add_case("cropping2d", "Cropping2D", name, {"crop": crop}, [x], [], y)


def shape_cases():
    for (name, shape) in (("rank4", (2, 3, 4, 5)), ("rank3", (2, 3, 4)),
                          ("rank2", (2, 6)), ("1x1", (1, 1, 1, 7))):
        x = randn(*shape)
        add_case("flatten", "Flatten", name, {}, [x], [],
                 x.reshape(shape[0], -1).astype(np.float64))
    for (name, shape, target) in (("to_hw_c", (2, 4, 6, 3), [24, 3]),
                                  ("infer_first", (2, 4, 6, 3), [-1, 3]),
                                  ("to_flat", (1, 4, 6, 3), [72]),
                                  ("infer_only", (2, 4, 6, 3), [-1]),
                                  ("to_rank4", (2, 4, 6, 3), [3, 2, 2, 6]),
                                  ("infer_middle", (1, 4, 6, 3), [2, -1, 6]),
                                  ("from_rank2", (2, 12), [1, 1, 12])):
        x = randn(*shape)
        add_case("reshape", "Reshape", name, {"shape": target}, [x], [],
                 x.reshape((shape[0],) + tuple(target)).astype(np.float64))
    for (name, shape, rate) in (("rate0.5", (2, 3, 3, 4), 0.5),
                                ("rate0", (1, 5), 0.0)):
        x = randn(*shape)
        add_case("dropout", "Dropout", name, {"rate": rate, "seed": 7}, [x], [],
                 x.astype(np.float64))


def merge_cases():
    for (name, shapes) in (("two_rank4", [(2, 4, 4, 3)] * 2),
                           ("three_rank4", [(1, 3, 5, 2)] * 3),
                           ("two_rank2", [(2, 7)] * 2)):
        xs = [randn(*s) for s in shapes]
        add_case("add", "Add", name, {}, xs, [],
                 sum(x.astype(np.float64) for x in xs))
        xs = [randn(*s) for s in shapes]
        y = np.ones(shapes[0])
        for x in xs:
            y = y * x.astype(np.float64)
        add_case("multiply", "Multiply", name, {}, xs, [], y)
    for (name, shapes, axis) in (("axis-1", [(2, 3, 3, 2), (2, 3, 3, 5)], -1),
                                 ("axis-1_three", [(1, 2, 2, 1), (1, 2, 2, 3),
                                                   (1, 2, 2, 2)], -1),
                                 ("axis3", [(1, 3, 2, 4), (1, 3, 2, 1)], 3),
                                 ("axis1", [(2, 2, 3, 2), (2, 4, 3, 2)], 1),
                                 ("axis2", [(1, 3, 1, 2), (1, 3, 4, 2)], 2),
                                 ("axis-3", [(1, 1, 2, 3), (1, 2, 2, 3)], -3),
                                 ("rank2_axis-1", [(2, 3), (2, 5)], -1)):
        xs = [randn(*s) for s in shapes]
        y = np.concatenate([x.astype(np.float64) for x in xs], axis=axis)
        add_case("concatenate", "Concatenate", name, {"axis": axis}, xs, [], y)
    for (name, shape, scale) in (("0.17", (2, 4, 4, 3), 0.17),
                                 ("1.0", (1, 3, 3, 5), 1.0),
                                 ("0.1_rank2", (2, 6), 0.1)):
        a, b = randn(*shape), randn(*shape)
        y = a.astype(np.float64) + scale * b.astype(np.float64)
        add_case("scaled_sum", "CustomScaleLayer", name, {"scale": scale},
                 [a, b], [], y)


def main():
    global OUT
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))

    conv2d_cases()
    depthwise_cases()
    separable_cases()
    dense_cases()
    batch_norm_cases()
    activation_cases()
    relu_cases()
    pool_cases()
    global_pool_cases()
    padding_cases()
    shape_cases()
    merge_cases()

    for c in CASES:
        y = np.load(os.path.join(OUT, c["output"]))
        assert np.all(np.isfinite(y)), c["name"]

    manifest = {"generator": "tests/oracle/layer_cases.py", "seed": SEED,
                "cases": CASES}
    tmp = os.path.join(OUT, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, os.path.join(OUT, "manifest.json"))
    fams = sorted({c["family"] for c in CASES})
    print(f"wrote {len(CASES)} cases in {len(fams)} families to {OUT}")


if __name__ == "__main__":
    main()
