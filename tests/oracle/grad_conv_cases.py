#!/usr/bin/python3
"""Gradient cases for the convolution family and Dense.

Usage: grad_conv_cases.py OUT_DIR

For every case: random float32 input x, weights and a fixed random tensor
r, the layer's output y, and the gradients of the scalar L = sum(r * y)
with respect to x and to every weight. tests/test_grad_conv.c builds the
layer, runs it forward, then runs its backward hook with dL/dy = r and
compares.

The reference is PyTorch in float64 with Keras semantics written out here:
  - tensors are NHWC; torch ops run on NCHW copies;
  - Conv2D kernels are (kh, kw, cin, cout) -> torch (cout, cin, kh, kw);
  - DepthwiseConv2D kernels are (kh, kw, cin, M); output channel c*M + m
    uses kernel[:, :, c, m] -> torch groups=cin weight (cin*M, 1, kh, kw);
  - SeparableConv2D is that depthwise conv (no bias), then a 1x1 conv with
    the (1, 1, cin*M, filters) pointwise kernel, then the bias;
  - 'same' padding uses TensorFlow's rule (the odd pixel goes bottom/right),
    applied explicitly with F.pad before a 'valid' op;
  - Dense is x @ kernel + bias over the last axis of any rank;
  - softmax is over the last axis.

Small cases ("oracle": "fd") get CENTRAL FINITE DIFFERENCES in float64 of
every input and weight element; the script also checks those against
torch autograd and stops if they disagree, so a wrong reference cannot
slip through. Large cases ("oracle": "autograd", sized so the C kernels
split their work into several im2col tiles) get float64 autograd only:
finite differences over 10^5 elements would be too slow.

Writes OUT_DIR/manifest.json and little-endian float32 .npy files.
Manifest config fields use the names of the C cfg structs in engine.h.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240917
EPS = 1e-5  # central-difference step (float64)
rng = np.random.default_rng(SEED)

# ---------------------------------------------------------------------------
# Reference layers (float64 torch, NHWC in and out)
# ---------------------------------------------------------------------------


def tf_same_pads(n, k, s, d):
    """TensorFlow 'same': out = ceil(n/s); the odd pixel goes after."""
    keff = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + keff - n, 0)
    return total // 2, total - total // 2


def pad_nchw(x, padding, k, s, d):
    if padding != "same":
        return x
    t, b = tf_same_pads(x.shape[2], k[0], s[0], d[0])
    l, r = tf_same_pads(x.shape[3], k[1], s[1], d[1])
    return F.pad(x, (l, r, t, b))


def activation(name, z):
    if name == "linear":
        return z
    if name == "relu":
        return torch.relu(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "swish":
        return z * torch.sigmoid(z)
    if name == "softmax":
        return torch.softmax(z, dim=-1)
    raise ValueError(name)


def conv2d_pre(cfg, x, w):
    """Pre-activation output of Conv2D; w = [kernel, (bias)]."""
    k, s, d = cfg["kernel"], cfg["strides"], cfg["dilation"]
    xt = pad_nchw(x.permute(0, 3, 1, 2), cfg["padding"], k, s, d)
    kt = w[0].permute(3, 2, 0, 1)
    y = F.conv2d(xt, kt, stride=s, dilation=d).permute(0, 2, 3, 1)
    return y if cfg.get("no_bias") else y + w[1]


def depthwise_nhwc(cfg, x, dk):
    k, s, d = cfg["kernel"], cfg["strides"], cfg["dilation"]
    cin, mult = dk.shape[2], dk.shape[3]
    xt = pad_nchw(x.permute(0, 3, 1, 2), cfg["padding"], k, s, d)
    # (kh, kw, cin, M) -> (cin*M, 1, kh, kw): channel c*M+m is kernel[..., c, m]
    kt = dk.permute(2, 3, 0, 1).reshape(cin * mult, 1, k[0], k[1])
    return F.conv2d(xt, kt, stride=s, dilation=d, groups=cin).permute(0, 2, 3, 1)


def depthwise_pre(cfg, x, w):
    y = depthwise_nhwc(cfg, x, w[0])
    return y if cfg.get("no_bias") else y + w[1]


def separable_pre(cfg, x, w):
    mid = depthwise_nhwc(cfg, x, w[0])
    y = torch.tensordot(mid, w[1][0, 0], dims=([3], [0]))
    return y if cfg.get("no_bias") else y + w[2]


def dense_pre(cfg, x, w):
    y = torch.tensordot(x, w[0], dims=([x.dim() - 1], [0]))
    return y if cfg.get("no_bias") else y + w[1]


PRE = {
    "conv2d": conv2d_pre,
    "depthwise_conv2d": depthwise_pre,
    "separable_conv2d": separable_pre,
    "dense": dense_pre,
}


def forward(family, cfg, x, w):
    return activation(cfg["activation"], PRE[family](cfg, x, w))


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------


def objective(family, cfg, r, x, w):
    return float((r * forward(family, cfg, x, w)).sum())


def finite_differences(family, cfg, r, tensors):
    """dL/dt for every tensor (x first, then the weights), elementwise."""
    grads = []
    with torch.no_grad():
        for t in tensors:
            g = torch.zeros_like(t)
            flat, gflat = t.view(-1), g.view(-1)
            for i in range(flat.numel()):
                old = float(flat[i])
                flat[i] = old + EPS
                lp = objective(family, cfg, r, tensors[0], tensors[1:])
                flat[i] = old - EPS
                lm = objective(family, cfg, r, tensors[0], tensors[1:])
                flat[i] = old
                gflat[i] = (lp - lm) / (2 * EPS)
            grads.append(g)
    return grads


def autograd(family, cfg, r, tensors):
    leaves = [t.clone().requires_grad_(True) for t in tensors]
    y = forward(family, cfg, leaves[0], leaves[1:])
    (r * y).sum().backward()
    return [t.grad.detach() for t in leaves]


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

out_dir = None
cases = []


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def save(name, arr):
    np.save(os.path.join(out_dir, name), f32(arr))
    return name


def randn(shape, scale):
    # Rounded to float32 first: the C side sees exactly these values.
    return torch.from_numpy(f32(rng.standard_normal(shape) * scale).astype(np.float64))


def weight_shapes(family, cfg, cin):
    k = cfg.get("kernel")
    bias = not cfg.get("no_bias")
    if family == "conv2d":
        ws = [("kernel", (k[0], k[1], cin, cfg["filters"]))]
        if bias:
            ws.append(("bias", (cfg["filters"],)))
    elif family == "depthwise_conv2d":
        m = cfg["depth_multiplier"]
        ws = [("depthwise_kernel", (k[0], k[1], cin, m))]
        if bias:
            ws.append(("bias", (cin * m,)))
    elif family == "separable_conv2d":
        m = cfg["depth_multiplier"]
        ws = [("depthwise_kernel", (k[0], k[1], cin, m)),
              ("pointwise_kernel", (1, 1, cin * m, cfg["filters"]))]
        if bias:
            ws.append(("bias", (cfg["filters"],)))
    else:
        ws = [("kernel", (cin, cfg["units"]))]
        if bias:
            ws.append(("bias", (cfg["units"],)))
    return ws


def add_case(family, name, cfg, x_shape, oracle="fd"):
    cfg = dict(cfg)
    if family != "dense":
        cfg.setdefault("strides", [1, 1])
        cfg.setdefault("dilation", [1, 1])
        cfg.setdefault("padding", "valid")
    if family in ("depthwise_conv2d", "separable_conv2d"):
        cfg.setdefault("depth_multiplier", 1)
    cfg.setdefault("activation", "linear")
    wshapes = weight_shapes(family, cfg, x_shape[-1])

    # Redraw until no pre-activation sits on a kink (relu at 0) within
    # reach of the float32 rounding of the C side or of the FD step.
    for _ in range(100):
        x = randn(x_shape, 1.0)
        w = [randn(s, 0.5) for _, s in wshapes]
        with torch.no_grad():
            z = PRE[family](cfg, x, w)
        if cfg["activation"] != "relu" or float(z.abs().min()) > 2e-3:
            break
    else:
        raise RuntimeError(f"{name}: cannot draw values away from the kink")
    with torch.no_grad():
        y = forward(family, cfg, x, w)
    r = randn(tuple(y.shape), 1.0)

    tensors = [x] + w
    ad = autograd(family, cfg, r, tensors)
    if oracle == "fd":
        grads = finite_differences(family, cfg, r, tensors)
        for (label, g, a) in zip(["x"] + [n for n, _ in wshapes], grads, ad):
            scale = max(float(a.abs().max()), 1e-3)
            err = float((g - a).abs().max())
            if err > 1e-6 * scale:
                raise RuntimeError(f"{name}: finite differences of {label} "
                                   f"disagree with autograd by {err:g} "
                                   f"(scale {scale:g})")
    else:
        grads = ad

    case = {
        "name": name,
        "family": family,
        "oracle": oracle,
        "config": cfg,
        "x": save(f"{name}.x.npy", x.numpy()),
        "r": save(f"{name}.r.npy", r.numpy()),
        "y": save(f"{name}.y.npy", y.numpy()),
        "dx": save(f"{name}.dx.npy", grads[0].numpy()),
        "weights": [
            {"name": wn,
             "value": save(f"{name}.{wn}.npy", wt.numpy()),
             "grad": save(f"{name}.{wn}.grad.npy", g.numpy())}
            for (wn, _), wt, g in zip(wshapes, w, grads[1:])
        ],
    }
    cases.append(case)


def conv2d_cases():
    c = "conv2d"
    add_case(c, "conv_k3_valid_s1_5x6", {"filters": 4, "kernel": [3, 3]}, (2, 5, 6, 3))
    add_case(c, "conv_k3_same_s1_6x6", {"filters": 4, "kernel": [3, 3], "padding": "same"},
             (2, 6, 6, 3))
    add_case(c, "conv_k3_same_s2_5x6", {"filters": 3, "kernel": [3, 3], "strides": [2, 2],
                                        "padding": "same"}, (2, 5, 6, 3))
    add_case(c, "conv_k3_valid_s2_6x6", {"filters": 3, "kernel": [3, 3], "strides": [2, 2]},
             (2, 6, 6, 2))
    add_case(c, "conv_k3_valid_s2_5x5", {"filters": 2, "kernel": [3, 3], "strides": [2, 2]},
             (2, 5, 5, 3))
    add_case(c, "conv_k2x3_same_s1", {"filters": 3, "kernel": [2, 3], "padding": "same"},
             (2, 5, 6, 2))
    add_case(c, "conv_k4_same_s2_odd", {"filters": 2, "kernel": [4, 4], "strides": [2, 2],
                                        "padding": "same"}, (1, 7, 5, 2))
    add_case(c, "conv_k3_same_s2x1", {"filters": 3, "kernel": [3, 3], "strides": [2, 1],
                                      "padding": "same"}, (2, 5, 6, 2))
    add_case(c, "conv_k3_same_d2_6x6", {"filters": 3, "kernel": [3, 3], "dilation": [2, 2],
                                        "padding": "same"}, (2, 6, 6, 2))
    add_case(c, "conv_k3_valid_d2_6x7", {"filters": 3, "kernel": [3, 3], "dilation": [2, 2]},
             (2, 6, 7, 2))
    add_case(c, "conv_k3_same_nobias_relu", {"filters": 4, "kernel": [3, 3], "padding": "same",
                                             "no_bias": True, "activation": "relu"},
             (2, 5, 6, 3))
    add_case(c, "conv_1x1_s1_sigmoid", {"filters": 4, "kernel": [1, 1],
                                        "activation": "sigmoid"}, (2, 5, 6, 3))
    add_case(c, "conv_1x1_s2_valid", {"filters": 3, "kernel": [1, 1], "strides": [2, 2]},
             (2, 5, 6, 3))
    add_case(c, "conv_k3_same_softmax", {"filters": 4, "kernel": [3, 3], "padding": "same",
                                         "activation": "softmax"}, (2, 5, 5, 2))
    add_case(c, "conv_k3_same_swish", {"filters": 3, "kernel": [3, 3], "padding": "same",
                                       "activation": "swish"}, (2, 6, 5, 2))
    add_case(c, "conv_k5_same_s2_on_2x3", {"filters": 2, "kernel": [5, 5], "strides": [2, 2],
                                           "padding": "same"}, (2, 2, 3, 2))


def depthwise_cases():
    c = "depthwise_conv2d"
    add_case(c, "dw_k3_same_s1_m1", {"kernel": [3, 3], "padding": "same"}, (2, 6, 6, 3))
    add_case(c, "dw_k3_same_s2_m2", {"kernel": [3, 3], "strides": [2, 2], "padding": "same",
                                     "depth_multiplier": 2}, (2, 5, 6, 3))
    add_case(c, "dw_k3_valid_d2_relu", {"kernel": [3, 3], "dilation": [2, 2],
                                        "activation": "relu"}, (2, 6, 7, 2))
    add_case(c, "dw_k3_valid_s2_m2_nobias_sigmoid",
             {"kernel": [3, 3], "strides": [2, 2], "depth_multiplier": 2, "no_bias": True,
              "activation": "sigmoid"}, (2, 6, 5, 3))
    add_case(c, "dw_k3_same_m2_swish", {"kernel": [3, 3], "padding": "same",
                                        "depth_multiplier": 2, "activation": "swish"},
             (2, 5, 5, 2))
    add_case(c, "dw_k2x3_same_m3_softmax", {"kernel": [2, 3], "padding": "same",
                                            "depth_multiplier": 3, "activation": "softmax"},
             (1, 5, 6, 2))


def separable_cases():
    c = "separable_conv2d"
    add_case(c, "sep_k3_same_m1", {"filters": 4, "kernel": [3, 3], "padding": "same"},
             (2, 6, 6, 3))
    add_case(c, "sep_k3_same_s2_m2_relu", {"filters": 3, "kernel": [3, 3], "strides": [2, 2],
                                           "padding": "same", "depth_multiplier": 2,
                                           "activation": "relu"}, (2, 5, 6, 2))
    add_case(c, "sep_k3_valid_d2_m2_nobias", {"filters": 3, "kernel": [3, 3],
                                              "dilation": [2, 2], "depth_multiplier": 2,
                                              "no_bias": True}, (2, 6, 6, 2))
    add_case(c, "sep_k3_same_swish", {"filters": 3, "kernel": [3, 3], "padding": "same",
                                      "activation": "swish"}, (2, 5, 5, 2))


def dense_cases():
    c = "dense"
    add_case(c, "dense_r2_softmax", {"units": 4, "activation": "softmax"}, (3, 5))
    add_case(c, "dense_r4_tanh", {"units": 3, "activation": "tanh"}, (2, 3, 4, 5))
    add_case(c, "dense_r2_nobias_relu", {"units": 3, "no_bias": True, "activation": "relu"},
             (4, 6))
    add_case(c, "dense_r3_swish", {"units": 5, "activation": "swish"}, (2, 3, 4))
    add_case(c, "dense_r2_linear", {"units": 6}, (5, 7))


def tiled_cases():
    # The C kernels cut im2col into tiles of 16 MiB: 3*3*64 floats a row
    # gives 7281 rows a tile, so 86*86 output pixels take two tiles and the
    # cut falls inside an output row; 5*5*256 gives 655 rows for 684 pixels,
    # the cut inside the second image.
    add_case("conv2d", "tiles_conv_k3_same_s1",
             {"filters": 8, "kernel": [3, 3], "padding": "same"},
             (1, 86, 86, 64), oracle="autograd")
    add_case("conv2d", "tiles_conv_k5_same_s2",
             {"filters": 4, "kernel": [5, 5], "strides": [2, 2], "padding": "same"},
             (2, 35, 37, 256), oracle="autograd")


def main():
    global out_dir
    if len(sys.argv) != 2:
        sys.exit("usage: grad_conv_cases.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    conv2d_cases()
    depthwise_cases()
    separable_cases()
    dense_cases()
    tiled_cases()
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"seed": SEED, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
