#!/usr/bin/python3
"""Generates loss cases for tests/test_losses.c with PyTorch float64 as the
reference: the batch value and d value / d y_pred (autograd) of Keras 3's
losses, written out as Keras's formulas (keras/src/losses/losses.py and the
backends' nn.py; see shared/reference/KERAS_APPLICATIONS.md section 7.3):

  categorical_crossentropy   p / sum(p), clip [eps, 1 - eps], -sum(y log p);
                             logits: -sum(y log_softmax(z)); smoothing
                             y (1 - ls) + ls / C
  sparse_categorical_...     the same with one-hot labels from class indices
  binary_crossentropy        clip, -(y log p + (1 - y) log(1 - p)), mean over
                             the last axis; logits: the stable sigmoid
                             cross-entropy; smoothing y (1 - ls) + ls / 2
  mean_squared_error / mean_absolute_error: mean over the last axis
  reduction                  mean of the per-row losses over every row

eps = float32(1e-7) and the upper bound float32(1 - 1e-7), as Keras's
float32 clip holds them. Inputs are float32 (what the C side sees) and are
widened to float64 before the reference runs.

Usage: loss_cases.py OUT_DIR   (writes OUT_DIR/manifest.json and .npy files)
"""
import json
import os
import sys

import numpy as np
import torch

EPS = float(np.float32(1e-7))
HI = float(np.float32(1.0 - 1e-7))
rng = np.random.default_rng(20240711)
OUT = sys.argv[1]
cases = []


def save(name, arr):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(arr, dtype=np.float32))
    return name


def reference(kind, pred, true, from_logits, ls):
    p = torch.tensor(pred.astype(np.float64), requires_grad=True)
    y = torch.tensor(true.astype(np.float64))
    if kind in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        c = p.shape[-1]
        if kind.startswith("sparse"):
            idx = y.reshape(p.shape[:-1]).long()
            y = torch.nn.functional.one_hot(idx, c).double()
        y = y * (1 - ls) + ls / c
        if from_logits:
            per_row = -(y * torch.log_softmax(p, dim=-1)).sum(-1)
        else:
            q = p / p.sum(-1, keepdim=True)
            q = torch.clamp(q, EPS, HI)
            per_row = -(y * torch.log(q)).sum(-1)
    else:
        y = y.reshape(p.shape)
        if kind == "binary_crossentropy":
            y = y * (1 - ls) + 0.5 * ls
            if from_logits:
                el = torch.nn.functional.binary_cross_entropy_with_logits(
                    p, y, reduction="none")
            else:
                q = torch.clamp(p, EPS, HI)
                el = -(y * torch.log(q) + (1 - y) * torch.log(1 - q))
        elif kind == "mean_squared_error":
            el = (p - y) ** 2
        else:
            el = (p - y).abs()
        per_row = el.mean(-1) if p.dim() >= 2 else el
    value = per_row.mean()
    value.backward()
    return float(value), p.grad.numpy()


def case(name, kind, pred, true, from_logits=False, ls=0.0):
    pred = pred.astype(np.float32)
    true = true.astype(np.float32)
    ls = float(np.float32(ls))  # the float the C side is given
    value, grad = reference(kind, pred, true, from_logits, ls)
    cases.append({
        "name": name, "loss": kind, "from_logits": from_logits,
        "label_smoothing": ls, "value": value,
        "pred": save(name + "_pred.npy", pred),
        "true": save(name + "_true.npy", true),
        "grad": save(name + "_grad.npy", grad),
    })


def one_hot(n, c):
    return np.eye(c)[rng.integers(0, c, n)]


def unnormalised(shape):
    # Positive, not summing to 1: exercises the renormalisation.
    return rng.uniform(0.05, 1.0, shape)


# Categorical cross-entropy.
case("cce_probs", "categorical_crossentropy", unnormalised((4, 5)), one_hot(4, 5))
soft = rng.uniform(0, 1, (3, 6))
soft /= soft.sum(-1, keepdims=True)
case("cce_soft_smooth", "categorical_crossentropy", unnormalised((3, 6)), soft, ls=0.1)
# Row 0: one class far below eps after renormalising; row 1: one class
# above 1 - eps (the others then below eps): the clip zeroes their terms.
clip_pred = np.array([[1e-9, 0.3, 0.7], [1.0, 1e-8, 2e-8], [0.2, 0.5, 0.3]])
clip_true = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0, 1, 0]])
case("cce_clipped", "categorical_crossentropy", clip_pred, clip_true)
case("cce_logits_smooth", "categorical_crossentropy", rng.normal(0, 3, (3, 6)),
     one_hot(3, 6), from_logits=True, ls=0.2)
case("cce_logits_large", "categorical_crossentropy",
     np.array([[80.0, -40.0, 3.0], [-90.0, 85.0, 0.0]]), np.array([[0, 1, 0], [0, 1, 0]]),
     from_logits=True)
case("cce_rank4", "categorical_crossentropy", unnormalised((2, 3, 2, 4)),
     np.eye(4)[rng.integers(0, 4, (2, 3, 2))], ls=0.05)

# Sparse categorical cross-entropy.
case("scce_probs", "sparse_categorical_crossentropy", unnormalised((5, 4)),
     rng.integers(0, 4, 5))
case("scce_logits_col", "sparse_categorical_crossentropy", rng.normal(0, 2, (5, 4)),
     rng.integers(0, 4, (5, 1)), from_logits=True)
case("scce_rank3", "sparse_categorical_crossentropy", unnormalised((2, 3, 4)),
     rng.integers(0, 4, (2, 3)))
case("scce_clipped", "sparse_categorical_crossentropy",
     np.array([[1e-9, 0.5, 0.5], [1.0, 1e-9, 1e-9]]), np.array([0, 0]))

# Binary cross-entropy.
case("bce_probs", "binary_crossentropy", rng.uniform(0.02, 0.98, (4, 3)),
     rng.integers(0, 2, (4, 3)))
case("bce_clipped_smooth", "binary_crossentropy",
     np.array([[0.0, 1.0, 0.5], [1e-9, 0.999999999, 0.25]]),
     np.array([[1, 0, 1], [0, 1, 0]]), ls=0.1)
case("bce_logits", "binary_crossentropy",
     np.array([[50.0, -50.0, 0.3, -2.0], [0.0, 4.0, -7.5, 1.25]]),
     np.array([[0, 1, 1, 0], [1, 1, 0, 0]]), from_logits=True)
case("bce_logits_smooth_col", "binary_crossentropy", rng.normal(0, 2, (5, 1)),
     rng.integers(0, 2, 5), from_logits=True, ls=0.3)
case("bce_rank3", "binary_crossentropy", rng.uniform(0.05, 0.95, (2, 3, 4)),
     rng.uniform(0, 1, (2, 3, 4)))

# Regression losses.
case("mse", "mean_squared_error", rng.normal(0, 1, (3, 4)), rng.normal(0, 1, (3, 4)))
case("mse_rank3", "mean_squared_error", rng.normal(0, 1, (2, 2, 5)),
     rng.normal(0, 1, (2, 2, 5)))
mae_pred = rng.normal(0, 1, (3, 4))
mae_true = rng.normal(0, 1, (3, 4))
mae_true[1, 2] = mae_pred[1, 2]  # |0|: derivative 0, like sign()
case("mae", "mean_absolute_error", mae_pred, mae_true)
case("mae_rank1", "mean_absolute_error", rng.normal(0, 1, 6), rng.normal(0, 1, 6))

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
