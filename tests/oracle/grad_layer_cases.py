#!/usr/bin/python3
"""Gradient test cases for the non-convolution layers.

Usage: grad_layer_cases.py OUT_DIR

Writes OUT_DIR/manifest.json and, per case, little-endian float32 .npy
files: the inputs, the weights (Keras order and names), r (the fixed
random output gradient), the expected output and the expected gradients
of L = sum(r * y) with respect to every input and every trainable weight.
tests/test_grad_layers.c runs each case through the layer's forward (or
forward_train) and backward with dy = r and compares.

The reference is written out here in float64 NumPy with Keras 3 semantics
(TF 'same' padding, max pools padded with -inf, 'same' average pools
dividing by the count of real cells, BatchNormalization with batch
statistics and the biased variance in training, ReLU as Keras's
static_call). The expected gradients are CENTRAL FINITE DIFFERENCES of L
in float64, independent of any analytic backward. Inputs are kept away
from kinks (ties in max windows, relu/relu6/threshold/max_value edges) by
more than the step, so the differences are exact up to rounding.

Manifest fields per case: name, family, cfg (the C cfg struct's field
names), training (run forward_train with ex->training), trainable (false:
a frozen layer), inputs, weights [{name, file, grad}] (grad null for
non-trainable weights), r, output, dx, and for BatchNormalization training
cases weights_after [{name, file}]: the moving statistics after the step.
"""
import json
import os
import sys

import numpy as np

SEED = 20240917
rng = np.random.default_rng(SEED)
OUT = None
H = 1e-6  # finite-difference step (float64)

# ---------------------------------------------------------------------------
# Reference layers (float64, NHWC)
# ---------------------------------------------------------------------------


def tf_same_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pool_ref(kind, x, pool, strides, padding):
    N, Hh, W, C = x.shape
    kh, kw = pool
    sh, sw = strides
    if padding == "same":
        t, b = tf_same_pads(Hh, kh, sh)
        l, r = tf_same_pads(W, kw, sw)
        oh, ow = -(-Hh // sh), -(-W // sw)
    else:
        t = b = l = r = 0
        oh, ow = (Hh - kh) // sh + 1, (W - kw) // sw + 1
    y = np.zeros((N, oh, ow, C))
    for i in range(oh):
        h0, h1 = max(i * sh - t, 0), min(i * sh - t + kh, Hh)
        for j in range(ow):
            w0, w1 = max(j * sw - l, 0), min(j * sw - l + kw, W)
            win = x[:, h0:h1, w0:w1, :]
            if kind == "max":
                y[:, i, j, :] = win.max(axis=(1, 2))  # -inf pads never win
            else:
                y[:, i, j, :] = win.sum(axis=(1, 2)) / ((h1 - h0) * (w1 - w0))
    return y


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
KINKS = {"relu": [0.0], "relu6": [0.0, 6.0], "hard_sigmoid": [-3.0, 3.0]}


def keras_relu(x, max_value, slope, threshold):
    """Keras 3 ReLU.static_call, op for op; max_value <= 0 is None."""
    if threshold != 0:
        pos = x * (x > threshold)
    else:
        pos = np.maximum(x, 0.0)
    if max_value > 0:
        pos = np.clip(pos, 0.0, max_value)
    return pos - slope * np.maximum(threshold - x, 0.0)


def bn_ref(x, w, cfg, training):
    """Returns (y, new moving_mean, new moving_variance)."""
    eps = cfg.get("epsilon") or 1e-3
    mom = cfg.get("momentum") or 0.99
    gamma = w.get("gamma", 1.0)
    beta = w.get("beta", 0.0)
    mm, mv = w["moving_mean"], w["moving_variance"]
    if training:
        axes = tuple(range(x.ndim - 1))
        mean = x.mean(axis=axes)
        var = ((x - mean) ** 2).mean(axis=axes)  # biased
        y = gamma * (x - mean) / np.sqrt(var + eps) + beta
        return y, mm * mom + mean * (1 - mom), mv * mom + var * (1 - mom)
    return gamma * (x - mm) / np.sqrt(mv + eps) + beta, mm, mv


def concat_ref(xs, axis):
    return np.concatenate(xs, axis=axis)


def reshape_ref(x, shape):
    return x.reshape((x.shape[0],) + tuple(shape))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

cases = []


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def save(name, arr):
    np.save(os.path.join(OUT, name), f32(arr))
    return name


def away_from(x, points, margin=0.05):
    """Moves values closer than `margin` to any kink by 2 * margin."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + np.where(x[near] >= p, 2 * margin, -2 * margin)
    return x


def distinct(shape, lo=-2.0, hi=2.0):
    """Values spaced at least (hi - lo) / n apart: no ties in max windows."""
    n = int(np.prod(shape))
    v = lo + (hi - lo) * (rng.permutation(n) + 0.5) / n
    return v.reshape(shape)


def fd(f, arrays, r):
    """Central differences of sum(r * f(arrays)) w.r.t. each array."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        flat, gf = a.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + H
            lp = np.sum(r * f())
            flat[i] = old - H
            lm = np.sum(r * f())
            flat[i] = old
            gf[i] = (lp - lm) / (2 * H)
        grads.append(g)
    return grads


def add_case(name, family, cfg, inputs, fwd, weights=(), trainable_w=(),
             training=False, trainable=True, after=None):
    """inputs: float arrays; weights: [(name, array)] in Keras order;
    trainable_w: names whose gradients are wanted; fwd(xs, wdict) -> y;
    after(xs, wdict) -> [(name, array)] weights after the step."""
    # Everything the C side sees is float32: round first, reference after.
    xs = [f32(x).astype(np.float64) for x in inputs]
    ws = [(n, f32(w).astype(np.float64)) for n, w in weights]
    wd = dict(ws)
    y = fwd(xs, wd)
    r = rng.uniform(-1.0, 1.0, y.shape)
    r = f32(r).astype(np.float64)
    tw = [wd[n] for n, _ in ws if n in trainable_w]
    grads = fd(lambda: fwd(xs, wd), xs + tw, r)
    c = {"name": name, "family": family, "cfg": cfg, "training": training,
         "trainable": trainable,
         "inputs": [save(f"{name}.x{i}.npy", x) for i, x in enumerate(xs)],
         "r": save(f"{name}.r.npy", r),
         "output": save(f"{name}.y.npy", y),
         "dx": [save(f"{name}.dx{i}.npy", g)
                for i, g in enumerate(grads[:len(xs)])],
         "weights": []}
    gi = len(xs)
    for n, w in ws:
        entry = {"name": n, "file": save(f"{name}.w.{n}.npy", w),
                 "grad": None}
        if n in trainable_w:
            entry["grad"] = save(f"{name}.dw.{n}.npy", grads[gi])
            gi += 1
        c["weights"].append(entry)
    if after:
        c["weights_after"] = [{"name": n, "file": save(f"{name}.after.{n}.npy", a)}
                              for n, a in after(xs, wd)]
    cases.append(c)


def activation_cases():
    for act in ACTIVATIONS:
        for shape in [(2, 3, 4, 5), (3, 7)]:
            lo, hi = (-8, 8) if act in ("relu6", "hard_sigmoid") else (-3, 3)
            x = away_from(rng.uniform(lo, hi, shape), KINKS.get(act, []))
            add_case(f"activation_{act}_{len(shape)}d", "activation",
                     {"activation": act}, [x],
                     lambda xs, w, a=act: ACTIVATIONS[a](xs[0]))


def relu_cases():
    cfgs = [
        {},
        {"max_value": 6.0},
        {"max_value": 4.5},
        {"negative_slope": 0.2},
        {"negative_slope": 0.1, "threshold": 0.5},
        {"threshold": -0.5, "max_value": 3.0},
        {"max_value": 6.0, "negative_slope": 0.3},
        {"threshold": 1.0},
        {"threshold": 1.5, "max_value": 5.0, "negative_slope": 0.25},
    ]
    for i, cfg in enumerate(cfgs):
        mx = cfg.get("max_value", 0.0)
        sl = cfg.get("negative_slope", 0.0)
        th = cfg.get("threshold", 0.0)
        x = away_from(rng.uniform(-8, 8, (2, 4, 3, 5)), [0.0, th, mx])
        add_case(f"relu_{i}", "relu", cfg, [x],
                 lambda xs, w, a=(mx, sl, th): keras_relu(xs[0], *a))


def pool_cases():
    shapes = [
        # (input HWC, pool, strides, padding)
        ((6, 6, 3), (2, 2), (2, 2), "valid"),
        ((7, 7, 2), (3, 3), (2, 2), "same"),
        ((5, 6, 2), (3, 3), (1, 1), "same"),
        ((5, 7, 2), (2, 3), (1, 2), "valid"),
        ((5, 5, 3), (2, 2), (2, 2), "same"),
        ((7, 6, 2), (3, 3), (2, 2), "valid"),
    ]
    for kind, fam in (("max", "max_pool2d"), ("avg", "avg_pool2d")):
        for i, (hwc, pool, strides, padding) in enumerate(shapes):
            x = distinct((2,) + hwc)
            add_case(f"{fam}_{i}", fam,
                     {"pool": list(pool), "strides": list(strides),
                      "padding": padding}, [x],
                     lambda xs, w, k=kind, p=pool, s=strides, pd=padding:
                     pool_ref(k, xs[0], p, s, pd))


def global_pool_cases():
    for fam, fn in (("global_avg_pool2d", np.mean), ("global_max_pool2d", np.max)):
        for keep, shape in ((False, (2, 3, 4, 5)), (True, (2, 5, 3, 4))):
            x = distinct(shape)
            add_case(f"{fam}_{'keep' if keep else 'flat'}", fam,
                     {"keepdims": keep}, [x],
                     lambda xs, w, f=fn, k=keep: f(xs[0], axis=(1, 2), keepdims=k))


def padding_cases():
    for i, (pad, shape) in enumerate((((0, 0, 0, 0), (2, 3, 4, 2)),
                                      ((0, 2, 1, 0), (2, 5, 4, 3)),
                                      ((2, 1, 3, 2), (1, 4, 5, 2)))):
        # All-zero is the C default of one on each side.
        eff = (1, 1, 1, 1) if pad == (0, 0, 0, 0) else pad
        add_case(f"zero_padding2d_{i}", "zero_padding2d", {"pad": list(pad)},
                 [rng.uniform(-1, 1, shape)],
                 lambda xs, w, p=eff: np.pad(
                     xs[0], ((0, 0), (p[0], p[1]), (p[2], p[3]), (0, 0))))
    for i, (crop, shape) in enumerate((((1, 0, 2, 1), (2, 5, 6, 3)),
                                       ((1, 1, 0, 0), (2, 4, 3, 2)),
                                       ((0, 2, 1, 2), (1, 7, 6, 2)))):
        add_case(f"cropping2d_{i}", "cropping2d", {"crop": list(crop)},
                 [rng.uniform(-1, 1, shape)],
                 lambda xs, w, c=crop: xs[0][:, c[0]:xs[0].shape[1] - c[1],
                                             c[2]:xs[0].shape[2] - c[3], :])


def reshape_cases():
    add_case("flatten_4d", "flatten", {}, [rng.uniform(-1, 1, (2, 3, 4, 5))],
             lambda xs, w: xs[0].reshape(xs[0].shape[0], -1))
    add_case("reshape_to_3d", "reshape", {"shape": [-1, 6]},
             [rng.uniform(-1, 1, (2, 4, 3, 3))],
             lambda xs, w: reshape_ref(xs[0], (6, 6)))
    add_case("reshape_to_4d", "reshape", {"shape": [2, 3, 5]},
             [rng.uniform(-1, 1, (3, 30))],
             lambda xs, w: reshape_ref(xs[0], (2, 3, 5)))


def merge_cases():
    s = (2, 3, 4, 3)
    for n in (2, 3):
        xs = [rng.uniform(-2, 2, s) for _ in range(n)]
        add_case(f"add_{n}", "add", {}, xs, lambda xs, w: sum(xs))
        add_case(f"multiply_{n}", "multiply", {}, xs,
                 lambda xs, w: np.prod(np.stack(xs), axis=0))
    add_case("scaled_sum", "scaled_sum", {"scale": 0.17},
             [rng.uniform(-2, 2, s), rng.uniform(-2, 2, s)],
             lambda xs, w: xs[0] + 0.17 * xs[1])
    concat = [
        (-1, [(2, 3, 4, 2), (2, 3, 4, 3), (2, 3, 4, 1)]),
        (1, [(2, 2, 3, 2), (2, 3, 3, 2)]),
        (2, [(2, 3, 1, 2), (2, 3, 4, 2), (2, 3, 2, 2)]),
        (-3, [(1, 2, 3, 2), (1, 1, 3, 2)]),
        (-1, [(3, 4), (3, 5)]),
    ]
    for i, (axis, shapes) in enumerate(concat):
        add_case(f"concatenate_{i}", "concatenate", {"axis": axis},
                 [rng.uniform(-2, 2, sh) for sh in shapes],
                 lambda xs, w, a=axis: concat_ref(xs, a))


def bn_weights(ch, no_scale=False, no_center=False):
    w = []
    if not no_scale:
        w.append(("gamma", rng.uniform(0.5, 1.5, ch)))
    if not no_center:
        w.append(("beta", rng.uniform(-0.5, 0.5, ch)))
    w.append(("moving_mean", rng.uniform(-0.5, 0.5, ch)))
    w.append(("moving_variance", rng.uniform(0.5, 2.0, ch)))
    return w


def batch_norm_cases():
    specs = [
        # name, shape, cfg, training, trainable
        ("bn_train_4d", (2, 3, 4, 5), {"momentum": 0.9}, True, True),
        ("bn_train_4d_odd", (3, 5, 3, 2), {"epsilon": 1.001e-5}, True, True),
        ("bn_train_2d_noscale", (6, 4), {"no_scale": True}, True, True),
        ("bn_train_4d_nocenter", (2, 2, 3, 3), {"no_center": True,
                                                "momentum": 0.5}, True, True),
        ("bn_infer_4d", (2, 3, 4, 5), {}, False, True),
        ("bn_infer_2d_noscale", (5, 3), {"no_scale": True}, False, True),
        # Frozen: a training step runs it exactly as inference.
        ("bn_frozen_4d", (2, 3, 3, 4), {"momentum": 0.9}, True, False),
    ]
    for name, shape, cfg, training, trainable in specs:
        ws = bn_weights(shape[-1], cfg.get("no_scale", False),
                        cfg.get("no_center", False))
        # A per-channel offset and scale, so the statistics are not trivial.
        x = rng.standard_normal(shape) * rng.uniform(0.5, 2.0, shape[-1]) \
            + rng.uniform(-1, 1, shape[-1])
        batch = training and trainable
        tw = [n for n, _ in ws if n in ("gamma", "beta")]
        after = None
        if training:
            after = (lambda xs, w, c=cfg, b=batch:
                     list(zip(("moving_mean", "moving_variance"),
                              bn_ref(xs[0], w, c, b)[1:])))
        add_case(name, "batch_norm", cfg, [x],
                 lambda xs, w, c=cfg, b=batch: bn_ref(xs[0], w, c, b)[0],
                 weights=ws, trainable_w=tw, training=training,
                 trainable=trainable, after=after)


def dropout_cases():
    x = rng.uniform(-1, 1, (2, 3, 4, 2))
    add_case("dropout_inference", "dropout", {"rate": 0.5}, [x],
             lambda xs, w: xs[0], training=False)
    add_case("dropout_rate0_training", "dropout", {"rate": 0.0}, [x],
             lambda xs, w: xs[0], training=True)


def main():
    global OUT
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    activation_cases()
    relu_cases()
    pool_cases()
    global_pool_cases()
    padding_cases()
    reshape_cases()
    merge_cases()
    batch_norm_cases()
    dropout_cases()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"seed": SEED, "step": H, "cases": cases}, f, indent=1)
    print(f"{len(cases)} cases written to {OUT}")


if __name__ == "__main__":
    main()
