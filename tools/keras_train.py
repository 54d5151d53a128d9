#!/usr/bin/python3
"""keras_train: an independent Keras 3 trainer (PyTorch, float64) that
replays a deterministic `zoo finetune` run from files.

Given the OUT.h5 of a `zoo finetune ... --epochs 0` run (its root
`model_config` JSON, its `model_weights` = the starting weights, and its
`zoo_class_names` / `zoo_attrs`), the data folder and the run's flags, it
trains the same model the way Keras 3's `fit` would and writes the final
weights. Nothing here comes from zoo's C code. The model is interpreted by
tools/keras_torch.py (Keras layer semantics in PyTorch); this file adds
what training needs, written out from Keras 3's source
(keras/src/trainers, keras/src/optimizers/*.py, keras/src/losses,
keras/src/layers/normalization/batch_normalization.py) and
shared/reference/KERAS_APPLICATIONS.md sections 4.2, 6 and 7:

  * Dataset (the `zoo finetune` contract, Keras's image_dataset_from_directory
    without shuffling): classes = immediate subfolders not starting with '.',
    sorted by name in byte order, index = position; samples = .jpg .jpeg
    .png files (any case) found recursively below each class folder,
    sorted by relative path in byte order; classes one after the other.
    Images: Pillow Image.open(p).convert("RGB") (resized with NEAREST, as
    Keras's load_img, only if not at the model's size), then
    imagenet_utils.preprocess_input in the model's mode (caffe, tf, torch)
    on the float32 array img_to_array gives, as NumPy computes it (each
    operation rounded to float32; --preprocess-float64 for exact values);
    the network then runs in float64.
  * Batches in dataset order, the last one smaller. Loss per batch: sparse
    categorical cross-entropy from probabilities, p / sum(p) clipped to
    [1e-7, 1 - 1e-7], -log p[label], mean over the batch's actual size;
    plus l2 * sum(kernel^2) for layers with an L2 kernel_regularizer.
  * Trainable layers: the "trainable" flag each layer has in the config
    (or, with --unfreeze-from L, L and every later layer of model.layers,
    i.e. config order). Their trainable weights are float64 leaves (in
    Keras's layout) and get gradients from torch autograd.
  * BatchNormalization: when the layer is trainable, training mode: batch
    mean and biased variance over N, H, W normalise the batch (gradients
    flow through them) and the moving statistics are updated as
    moving = moving * momentum + batch * (1 - momentum) with that biased
    variance. A frozen BN runs in inference mode (moving statistics, not
    updated), as Keras >= 2.1.3 / TF2 does inside fit.
  * Dropout with rate > 0 cannot be replayed (its mask is zoo's RNG): an
    error. Run zoo with --dropout 0.
  * Optimizers, Keras 3 rules (iterations start at 0, t = iterations + 1):
      SGD:     m = mu*m - lr*g; w += m (nesterov: w += mu*m - lr*g);
               without momentum w -= lr*g.
      RMSprop: v = rho*v + (1-rho)*g^2 (centered: a = rho*a + (1-rho)*g,
               den = v - a^2 + eps, else v + eps); inc = lr*g/sqrt(den);
               momentum: mom = mu*mom + inc, w -= mom; else w -= inc.
      Adam:    m += (g - m)(1-b1); v += (g^2 - v)(1-b2); (amsgrad: vhat =
               max(vhat, v)); alpha = lr*sqrt(1-b2^t)/(1-b1^t);
               w -= alpha*m/(sqrt(v) + eps).
    Defaults as Keras's: lr 0.01 (SGD) / 0.001, rho 0.9, b1 0.9, b2 0.999,
    eps 1e-7, momentum 0.
  * History as Keras 3 reports it: per epoch, loss = batch losses averaged
    with the batch sizes as weights, accuracy = argmax(pred) == label over
    every sample (both from the training-mode forward before each step).

For speed only (the arithmetic is the same): 1x1 and depthwise
convolutions run as a matrix product and a sum of shifted products
(torch's float64 CPU convolutions are slow), and the outputs of the frozen
part of the graph that feed the trained part are computed once per batch
and reused in later epochs (they cannot change: no shuffling, frozen
layers in inference mode).

Reproducibility limits (float32 trainers such as zoo or Keras itself
against this float64 replay; measured on MobileNet, see
tests/test_finetune_replay.c): agreement is ~1e-6 relative for SGD,
momentum, RMSprop and Adam on the head, SGD on unfrozen blocks, Adam on
unfrozen BN gamma/beta. Two effects break 1e-4 whatever the trainer's
correctness: a ReLU input within rounding of its kink (0 or 6) in the
trained part, which moves the gradient by percents; and Adam on whole
kernels, whose step is ~lr * sign(g) wherever |g| >> eps / sqrt(1 - b2),
so components whose gradient is under float32 noise flip (at lr 1e-3,
~1e-4 of the kernel's scale). --float32 trains this replay in float32 to
measure how sensitive a given run is.

Usage:
  keras_train.py --init INIT.h5 --data DIR [--epochs N] [--batch-size B]
                 [--optimizer sgd|rmsprop|adam] [--lr LR] [--momentum M]
                 [--nesterov] [--unfreeze-from LAYER] [--image-size H,W]
                 [--preprocess caffe|tf|torch] [--preprocess-float64]
                 [--float32] [--frozen-bn-training]
                 [--out FINAL.h5] [--npz FINAL.npz] [--history H.json]
                 [--compare OUT.h5 [--rtol 1e-4]]
  keras_train.py --runs MANIFEST.json [--threads T]   (several runs in one
                 process; each entry is an object keyed by the long option
                 names, '_' for '-': {"init": ..., "unfreeze_from": ...})
  keras_train.py --selfcheck            (hand-computed cases; exit 0 if all pass)

--out writes the final weights in the legacy save_weights layout (float32,
layer_names in model.layers order), which zoo_model_load_weights and
Keras's load_weights read; --npz writes them in float64 as "layer/weight"
arrays. --compare reads another trainer's final OUT.h5 (zoo's) and prints,
per weight of every trainable layer, the max |difference| relative to the
max |value| of the replay's tensor; frozen layers must equal the start
bit for bit. Exit status 1 when anything is off.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keras_torch as kt  # noqa: E402  (the independent Keras interpreter)

EPSILON = 1e-7  # keras.backend.epsilon()
IMAGE_EXTS = (".jpg", ".jpeg", ".png")
MOVING = ("moving_mean", "moving_variance")


class ReplayError(ValueError):
    """The run cannot be replayed as asked; the message says why."""


# ---------------------------------------------------------------------------
# Reading the initial model
# ---------------------------------------------------------------------------


def _root_string_attr(f, name):
    if name not in f.attrs:
        return None
    v = f.attrs[name]
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0] if v.size else ""
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    return str(v)


def read_init(path):
    """(model config JSON text, {layer: [(weight name, array)]}, class names
    or None, zoo attrs dict)."""
    import h5py
    weights, config = kt.read_h5_weights(path)
    if config is None:
        raise ReplayError(f"{path}: no root 'model_config' attribute; pass the OUT.h5 "
                          "of a 'zoo finetune --epochs 0' run (a full-model file)")
    with h5py.File(path, "r") as f:
        names = _root_string_attr(f, "zoo_class_names")
        attrs = _root_string_attr(f, "zoo_attrs")
    names = json.loads(names) if names else None
    attrs = json.loads(attrs) if attrs else {}
    return config, weights, names, attrs


# ---------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------


def _bytes_key(s):
    return os.fsencode(s)


def list_dataset(root):
    """(class names, [(path, label)]) in the contract's order."""
    try:
        entries = os.listdir(root)
    except OSError as e:
        raise ReplayError(f"{root}: cannot list the data folder: {e}") from None
    classes = sorted((n for n in entries
                      if not n.startswith(".") and os.path.isdir(os.path.join(root, n))),
                     key=_bytes_key)
    if len(classes) < 2:
        raise ReplayError(f"{root}: {len(classes)} class folder(s); a classifier needs 2")
    samples = []
    for label, c in enumerate(classes):
        cdir = os.path.join(root, c)
        rels = []
        for dirpath, dirnames, filenames in os.walk(cdir, followlinks=True):
            for fn in filenames:
                if fn.lower().endswith(IMAGE_EXTS):
                    rels.append(os.path.relpath(os.path.join(dirpath, fn), cdir))
        rels.sort(key=_bytes_key)
        if not rels:
            raise ReplayError(f"{root}: class folder '{c}' has no .jpg/.jpeg/.png images")
        samples += [(os.path.join(cdir, r), label) for r in rels]
    return classes, samples


def preprocess_input(x, mode, dtype=np.float32):
    """keras.applications.imagenet_utils.preprocess_input (its NumPy path)
    on RGB (..., 3) values in [0, 255] held as `dtype`. Keras gets float32
    arrays from img_to_array, so each operation rounds to float32 with the
    Python constants rounded to float32, as NumPy does; float64 gives the
    exact values instead."""
    x = np.asarray(x, dtype)
    c = lambda v: np.asarray(v, dtype)  # noqa: E731
    if mode == "tf":
        x = x / c(127.5)
        return x - c(1.0)
    if mode == "torch":
        x = x / c(255.0)
        x = x - c([0.485, 0.456, 0.406])
        return x / c([0.229, 0.224, 0.225])
    if mode == "caffe":
        return x[..., ::-1] - c([103.939, 116.779, 123.68])
    raise ReplayError(f"preprocess mode {mode!r} is not caffe, tf or torch")


def load_images(samples, size, mode, dtype=np.float32):
    """(x float64 (N, H, W, 3) preprocessed in `dtype`, y int64 (N,))."""
    from PIL import Image
    h, w = size
    xs = np.empty((len(samples), h, w, 3), np.float64)
    for i, (p, _) in enumerate(samples):
        with Image.open(p) as im:
            im = im.convert("RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.NEAREST)
            xs[i] = np.asarray(im, dtype=np.float64)
    x = preprocess_input(xs, mode, dtype).astype(np.float64)
    return x, np.array([l for _, l in samples], np.int64)


# ---------------------------------------------------------------------------
# The trainable model
# ---------------------------------------------------------------------------

# Keras-layout weight -> the tensor keras_torch's module holds (buffer name).
_BINDINGS = {
    kt.Conv2DT: {"kernel": ("w", lambda k: k.permute(3, 2, 0, 1)), "bias": ("b", None)},
    kt.DepthwiseConv2DT: {
        "depthwise_kernel": ("w", lambda k: k.reshape(k.shape[0], k.shape[1], -1)
                             .permute(2, 0, 1).unsqueeze(1)),
        "bias": ("b", None)},
    kt.SeparableConv2DT: {
        "depthwise_kernel": ("dw", lambda k: k.reshape(k.shape[0], k.shape[1], -1)
                             .permute(2, 0, 1).unsqueeze(1)),
        "pointwise_kernel": ("pw", lambda k: k.permute(3, 2, 0, 1)),
        "bias": ("b", None)},
    kt.DenseT: {"kernel": ("w", lambda k: k.t()), "bias": ("b", None)},
    kt.BatchNormalizationT: {"gamma": ("gamma", None), "beta": ("beta", None),
                             "moving_mean": ("mean", None),
                             "moving_variance": ("var", None)},
}

_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")


def _bn_train_forward(mod):
    """Keras 3 BatchNormalization.call(training=True) for a trainable layer."""
    def forward(xs):
        x = xs[0]
        r = x.dim()
        if (r, mod.axis % r) not in ((4, 3), (2, 1)):
            raise ReplayError(f"layer '{mod.keras_name}': training-mode BatchNormalization "
                              "is replayed only over the last axis of 2-D or 4-D tensors")
        dims = [0, 2, 3] if r == 4 else [0]
        shape = [1, -1, 1, 1] if r == 4 else [1, -1]
        mean = x.mean(dim=dims)
        var = ((x - mean.reshape(shape)) ** 2).mean(dim=dims)  # biased
        m = mod.momentum
        with torch.no_grad():
            mod.mean = mod.mean * m + mean.detach() * (1.0 - m)
            mod.var = mod.var * m + var.detach() * (1.0 - m)
        y = (x - mean.reshape(shape)) * torch.rsqrt(var + mod.eps).reshape(shape)
        if mod.gamma is not None:
            y = y * mod.gamma.reshape(shape)
        if mod.beta is not None:
            y = y + mod.beta.reshape(shape)
        return y
    return forward


def _fast_conv(mod):
    """The same arithmetic as keras_torch's _ConvBase._conv (TF 'same'
    padding, then a valid convolution), faster in float64 on the CPU,
    where torch's double convolutions are slow: 1x1 kernels as a matrix
    product, depthwise kernels as a sum of shifted products. Other
    convolutions go to F.conv2d as before."""
    def conv(x, w, b, groups):
        sym, explicit = mod._pads(x)
        cout, cin_g, kh, kw = w.shape
        depthwise = groups == x.shape[1] and cin_g == 1
        if not depthwise and not (groups == 1 and kh == 1 and kw == 1):
            if explicit is not None:
                x = F.pad(x, explicit)
            return F.conv2d(x, w, b, mod.strides, sym, mod.dilation, groups)
        if explicit is not None:
            x = F.pad(x, explicit)
        elif sym != (0, 0):
            x = F.pad(x, (sym[1], sym[1], sym[0], sym[0]))
        (s0, s1), (d0, d1) = mod.strides, mod.dilation
        oh = (x.shape[2] - (kh - 1) * d0 - 1) // s0 + 1
        ow = (x.shape[3] - (kw - 1) * d1 - 1) // s1 + 1
        if not depthwise:
            xs = x[:, :, 0:(oh - 1) * s0 + 1:s0, 0:(ow - 1) * s1 + 1:s1]
            y = torch.einsum("nchw,oc->nohw", xs, w[:, :, 0, 0])
        else:
            m = cout // x.shape[1]
            if m > 1:
                x = x.repeat_interleave(m, dim=1)  # output channel c*M + m reads c
            y = None
            for i in range(kh):
                for j in range(kw):
                    xs = x[:, :, i * d0:i * d0 + (oh - 1) * s0 + 1:s0,
                           j * d1:j * d1 + (ow - 1) * s1 + 1:s1]
                    t = xs * w[:, 0, i, j].reshape(1, -1, 1, 1)
                    y = t if y is None else y + t
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1)
        return y
    return conv


class Trainer:
    """A Keras model (config + starting weights) with float64 trainable
    leaves for its trainable layers' weights."""

    def __init__(self, config, weights, unfreeze_from=None, frozen_bn_training=False,
                 dtype=torch.float64):
        self.cfg = kt.load_config(config)
        self.dtype = dtype
        self.model = kt.KerasModel(self.cfg, weights, dtype=dtype)
        self.order = [ld.get("name") or ld.get("config", {}).get("name")
                      for ld in self.cfg["layers"]]
        self.layer_cfg = {n: ld for n, ld in zip(self.order, self.cfg["layers"])}
        flags = {n: bool(self.layer_cfg[n].get("config", {}).get("trainable", True))
                 for n in self.order}
        if unfreeze_from is not None:
            if unfreeze_from not in flags:
                raise ReplayError(f"--unfreeze-from {unfreeze_from}: no such layer")
            i = self.order.index(unfreeze_from)
            want = {n: k >= i for k, n in enumerate(self.order)}
            self.flag_mismatch = sorted(n for n in self.order
                                        if want[n] != flags[n] and weights.get(n))
            flags = want
        else:
            self.flag_mismatch = []
        self.trainable = flags
        self.start = {n: [(kt._short_weight_name(wn), np.array(a)) for wn, a in ws]
                      for n, ws in weights.items()}
        self.params = {}   # (layer, weight) -> leaf, Keras layout
        self.l2 = []       # (leaf, l2)
        for name, mi in self.model.index.items():
            mod = self.model.mods[mi]
            cls = type(mod)
            lcfg = self.layer_cfg[name].get("config", {}) or {}
            if cls is kt.IdentityT and self.layer_cfg[name]["class_name"] == "Dropout" \
                    and float(lcfg.get("rate", 0) or 0) > 0:
                raise ReplayError(f"layer '{name}': Dropout(rate={lcfg['rate']}) draws a "
                                  "random mask that cannot be replayed; run with --dropout 0")
            if isinstance(mod, kt._ConvBase):
                mod._conv = _fast_conv(mod)
            if cls is kt.BatchNormalizationT:
                mod.momentum = float(lcfg.get("momentum", 0.99))
                if flags[name] or frozen_bn_training:
                    # frozen_bn_training: the pre-TF2 rule, for negative controls.
                    mod.forward = _bn_train_forward(mod)
            if not flags[name] or cls not in _BINDINGS:
                continue
            names = [wn for wn, _ in cls.expected(lcfg)]
            arrays = [a for _, a in weights[name]]
            for wn, a in zip(names, arrays):
                if wn in MOVING:
                    continue
                leaf = torch.tensor(np.asarray(a, np.float64), dtype=dtype, requires_grad=True)
                self.params[(name, wn)] = leaf
                if wn in _KERNELS:
                    l2 = _l2_of(lcfg)
                    if l2:
                        self.l2.append((leaf, l2))
        if not self.params:
            raise ReplayError("no trainable weights: every weighted layer is frozen")
        self._bind()

    def _bind(self):
        """Writes the leaves, through Keras -> torch layout maps, into the
        modules' tensors (so autograd reaches the leaves)."""
        for (name, wn), leaf in self.params.items():
            mod = self.model.mods[self.model.index[name]]
            attr, fn = _BINDINGS[type(mod)][wn]
            setattr(mod, attr, fn(leaf) if fn else leaf)

    def _plan_constants(self):
        """Nodes whose output cannot change during training: frozen layers
        in inference mode fed only by such nodes (or the input). The
        frontier among them (read by a changing node or an output) is
        cached per batch, so later epochs skip the frozen part."""
        m = self.model
        const = set(m.input_keys)
        for mi, ins, key in m.plan:
            mod = m.mods[mi]
            bn_train = isinstance(mod, kt.BatchNormalizationT) and "forward" in vars(mod)
            if not self.trainable.get(key[0]) and not bn_train and all(k in const for k in ins):
                const.add(key)
        outs = {(r[0], r[1]) for r in m.out_refs}
        frontier = set(k for k in const if k in outs)
        for mi, ins, key in m.plan:
            if key not in const:
                frontier.update(k for k in ins if k in const)
        return const, frontier

    def forward(self, x, batch_id=None):
        """Probabilities for the NHWC batch x; batch_id (any hashable) names
        the batch so the constant part's outputs are computed once."""
        self._bind()
        m = self.model
        if not hasattr(self, "_const"):
            self._const, self._frontier = self._plan_constants()
            self._cache = {}
        cached = self._cache.get(batch_id) if batch_id is not None else None
        vals = {}
        if cached is None:
            xt = torch.from_numpy(np.ascontiguousarray(x)).to(m.dtype_)
            for key in m.input_keys:
                vals[key] = kt.from_logical(xt)
        else:
            vals.update(cached)
        for mi, ins, key in m.plan:
            if cached is not None and key in self._const:
                continue
            vals[key] = m.mods[mi]([vals[k] for k in ins])
        if cached is None and batch_id is not None:
            self._cache[batch_id] = {k: vals[k].detach() for k in self._frontier}
        outs = tuple(kt.to_logical(vals[(r[0], r[1])]) for r in m.out_refs)
        if len(outs) != 1:
            raise ReplayError("the model has several outputs; a classifier has one")
        return outs[0]

    def final_weights(self):
        """{layer: [(weight name, float64 array)]} in the file's order."""
        out = {}
        for name, ws in self.start.items():
            if name not in self.model.index or not self.trainable.get(name):
                out[name] = [(wn, np.asarray(a, np.float64)) for wn, a in ws]
                continue
            mod = self.model.mods[self.model.index[name]]
            lcfg = self.layer_cfg[name].get("config", {}) or {}
            names = [wn for wn, _ in type(mod).expected(lcfg)]
            arrs = []
            for wn in names:
                if (name, wn) in self.params:
                    arrs.append((wn, self.params[(name, wn)].detach().numpy().copy()))
                elif wn == "moving_mean":
                    arrs.append((wn, mod.mean.detach().numpy().copy()))
                elif wn == "moving_variance":
                    arrs.append((wn, mod.var.detach().numpy().copy()))
            out[name] = arrs
        return out


def _l2_of(lcfg):
    reg = lcfg.get("kernel_regularizer")
    if not reg:
        return 0.0
    c = reg.get("config", {}) if isinstance(reg, dict) else {}
    cls = reg.get("class_name") if isinstance(reg, dict) else reg
    if cls in ("L2", "l2"):
        return float(c.get("l2", 0.01))
    raise ReplayError(f"kernel_regularizer {reg!r} is not replayed (only L2)")


# ---------------------------------------------------------------------------
# Loss and optimizers (Keras 3)
# ---------------------------------------------------------------------------


def sparse_cce(probs, labels):
    """Per-sample sparse categorical cross-entropy from probabilities."""
    p = probs / probs.sum(dim=-1, keepdim=True)
    p = torch.clamp(p, EPSILON, 1.0 - EPSILON)
    return -torch.log(p.gather(1, labels.reshape(-1, 1))).reshape(-1)


KERAS_DEFAULT_LR = {"sgd": 0.01, "rmsprop": 0.001, "adam": 0.001}


class Optimizer:
    def __init__(self, kind, lr=None, momentum=0.0, nesterov=False, rho=0.9,
                 centered=False, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        if kind not in KERAS_DEFAULT_LR:
            raise ReplayError(f"optimizer {kind!r} is not sgd, rmsprop or adam")
        self.kind = kind
        self.lr = KERAS_DEFAULT_LR[kind] if not lr else float(lr)
        self.momentum, self.nesterov = float(momentum or 0.0), bool(nesterov)
        self.rho, self.centered = float(rho), bool(centered)
        self.b1, self.b2, self.eps, self.amsgrad = float(beta_1), float(beta_2), \
            float(epsilon), bool(amsgrad)
        self.iterations = 0
        self.slots = {}

    def _slot(self, key, like):
        if key not in self.slots:
            self.slots[key] = torch.zeros_like(like)
        return self.slots[key]

    @torch.no_grad()
    def apply(self, params):
        """One step over {key: leaf} using each leaf's .grad."""
        lr = self.lr
        t = self.iterations + 1
        for key, w in params.items():
            g = w.grad if w.grad is not None else torch.zeros_like(w)
            if self.kind == "sgd":
                if self.momentum != 0.0:
                    m = self._slot(("m", key), w)
                    m.copy_(m * self.momentum - g * lr)
                    if self.nesterov:
                        w.add_(m * self.momentum - g * lr)
                    else:
                        w.add_(m)
                else:
                    w.sub_(g * lr)
            elif self.kind == "rmsprop":
                v = self._slot(("v", key), w)
                v.copy_(self.rho * v + (1.0 - self.rho) * g * g)
                if self.centered:
                    a = self._slot(("a", key), w)
                    a.copy_(self.rho * a + (1.0 - self.rho) * g)
                    den = v - a * a + self.eps
                else:
                    den = v + self.eps
                inc = lr * g / torch.sqrt(den)
                if self.momentum > 0.0:
                    mom = self._slot(("mom", key), w)
                    mom.copy_(self.momentum * mom + inc)
                    w.sub_(mom)
                else:
                    w.sub_(inc)
            else:  # adam
                m = self._slot(("m", key), w)
                v = self._slot(("v", key), w)
                m.add_((g - m) * (1.0 - self.b1))
                v.add_((g * g - v) * (1.0 - self.b2))
                vv = v
                if self.amsgrad:
                    vh = self._slot(("vhat", key), w)
                    vh.copy_(torch.maximum(vh, v))
                    vv = vh
                alpha = lr * math.sqrt(1.0 - self.b2 ** t) / (1.0 - self.b1 ** t)
                w.sub_(m * alpha / (torch.sqrt(vv) + self.eps))
        self.iterations += 1


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def train(trainer, x, y, epochs, batch_size, opt, log=None):
    """Keras 3 fit without shuffling. Returns the history {"loss": [...],
    "accuracy": [...], "batch_loss": [[...] per epoch]}."""
    hist = {"loss": [], "accuracy": [], "batch_loss": []}
    n = len(y)
    yt = torch.from_numpy(y)
    for ep in range(epochs):
        tot, correct, blosses = 0.0, 0, []
        for s in range(0, n, batch_size):
            xb, yb = x[s:s + batch_size], yt[s:s + batch_size]
            for leaf in trainer.params.values():
                leaf.grad = None
            probs = trainer.forward(xb.astype(np.float32) if trainer.dtype == torch.float32
                                    else xb, batch_id=s)
            loss = sparse_cce(probs, yb).mean()
            for leaf, l2 in trainer.l2:
                loss = loss + l2 * (leaf * leaf).sum()
            if not torch.isfinite(loss):
                raise ReplayError(f"loss is {loss.item()} at epoch {ep + 1}, batch "
                                  f"{s // batch_size + 1}")
            loss.backward()
            opt.apply(trainer.params)
            lv = float(loss.item())
            blosses.append(lv)
            tot += lv * len(yb)
            correct += int((probs.detach().argmax(dim=1) == yb).sum())
        hist["loss"].append(tot / n)
        hist["accuracy"].append(correct / n)
        hist["batch_loss"].append(blosses)
        if log:
            print(f"epoch {ep + 1}/{epochs}: accuracy={correct / n:.4f} loss={tot / n:.6f}",
                  file=log)
    return hist


def save_weights_h5(path, trainer, weights):
    """The legacy save_weights layout (float32), layers in model.layers order."""
    kt.write_h5_weights(path, {n: ws for n, ws in weights.items() if ws}, trainer.order)


def compare(trainer, final, path, rtol, log):
    """Reads another trainer's result and checks it against `final`.
    Returns (number of problems, report rows)."""
    got, _ = kt.read_h5_weights(path)
    problems, rows = 0, []
    for name in trainer.order:
        want = final.get(name)
        if not want:
            continue
        if name not in got or len(got[name]) != len(want):
            problems += 1
            rows.append((name, "-", "missing or wrong weight count", None))
            continue
        for (wn, w), (_, g) in zip(want, got[name]):
            g = np.asarray(g)
            if g.shape != w.shape:
                problems += 1
                rows.append((name, wn, f"shape {g.shape} != {w.shape}", None))
                continue
            if not trainer.trainable.get(name):
                start = dict(trainer.start[name])[wn]
                same = np.array_equal(np.asarray(g, np.float32).view(np.uint32),
                                      np.asarray(start, np.float32).view(np.uint32))
                if not same:
                    problems += 1
                    rows.append((name, wn, "frozen weight changed", None))
                continue
            scale = float(np.max(np.abs(w))) or 1.0
            err = float(np.max(np.abs(g.astype(np.float64) - w))) / scale
            ok = err <= rtol
            problems += not ok
            rows.append((name, wn, "ok" if ok else "MISMATCH", err))
    for name, wn, what, err in rows:
        if err is not None or what != "ok":
            print(f"compare {name}/{wn}: {what}"
                  + (f" max rel err {err:.3e}" if err is not None else ""), file=log)
    print(f"compare: {problems} problem(s) against {path}", file=log)
    return problems, rows


def run(opts, log=sys.stdout):
    """One replay; `opts` is a dict of the long option names. Returns the
    number of comparison problems (0 without --compare)."""
    config, weights, class_names, attrs = read_init(opts["init"])
    classes, samples = list_dataset(opts["data"])
    if class_names is not None and list(class_names) != classes:
        raise ReplayError(f"the data folder's classes {classes} differ from the model's "
                          f"zoo_class_names {class_names}")
    mode = opts.get("preprocess") or attrs.get("preprocess")
    if not mode:
        raise ReplayError("no preprocess mode: the file has no zoo_attrs 'preprocess'; "
                          "pass --preprocess caffe|tf|torch")
    trainer = Trainer(config, weights, opts.get("unfreeze_from"),
                      bool(opts.get("frozen_bn_training")),
                      torch.float32 if opts.get("float32") else torch.float64)
    if trainer.flag_mismatch:
        print("keras_train: note: --unfreeze-from disagrees with the config's trainable "
              f"flags on {', '.join(trainer.flag_mismatch[:8])}"
              f"{' ...' if len(trainer.flag_mismatch) > 8 else ''}", file=sys.stderr)
    size = opts.get("image_size")
    if isinstance(size, str):
        size = [int(v) for v in size.split(",")]
    if not size:
        g = kt.Graph(trainer.cfg)
        size = g.input_shape(g.inputs[0][0])[:2]
    x, y = load_images(samples, size, mode,
                       np.float64 if opts.get("preprocess_float64") else np.float32)
    opt = Optimizer(opts.get("optimizer", "adam"), opts.get("lr"),
                    opts.get("momentum", 0.0), opts.get("nesterov", False))
    hist = train(trainer, x, y, int(opts.get("epochs", 1)),
                 int(opts.get("batch_size", 32)), opt, log)
    final = trainer.final_weights()
    if opts.get("out"):
        save_weights_h5(opts["out"], trainer, final)
    if opts.get("npz"):
        np.savez(opts["npz"], **{f"{n}/{wn}": a for n, ws in final.items() for wn, a in ws})
    if opts.get("history"):
        hist["trainable_layers"] = [n for n in trainer.order if trainer.trainable[n]
                                    and n in final and final[n]]
        hist["samples"] = [os.path.relpath(p, opts["data"]) for p, _ in samples]
        with open(opts["history"], "w", encoding="utf-8") as f:
            json.dump(hist, f, indent=1)
    if opts.get("compare"):
        return compare(trainer, final, opts["compare"], float(opts.get("rtol", 1e-4)), log)[0]
    return 0


# ---------------------------------------------------------------------------
# Self-check: the rules above against hand-computed numbers
# ---------------------------------------------------------------------------


def _tiny_config(bn_trainable=True, dense_trainable=True):
    b = kt.ConfigBuilder()
    i = b.input((1, 2, 2))
    b.layer("BatchNormalization", "bn", i, axis=-1, momentum=0.9, epsilon=1e-3,
            center=True, scale=True, trainable=bn_trainable)
    b.layer("GlobalAveragePooling2D", "gap", "bn")
    b.layer("Dense", "predictions", "gap", units=2, activation="softmax", use_bias=True,
            trainable=dense_trainable)
    return b.config("predictions")


def selfcheck(verbose=True):
    fails = []

    def check(desc, got, want, tol=1e-12):
        ok = np.allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                         rtol=tol, atol=tol)
        if not ok:
            fails.append(desc)
        if verbose:
            print(f"selfcheck {'ok  ' if ok else 'FAIL'} {desc}"
                  + ("" if ok else f": got {np.asarray(got).ravel()[:6]}, "
                     f"want {np.asarray(want).ravel()[:6]}"))

    # Optimizers on w = [1, -2] with gradients g1 = [0.5, -1], g2 = [0.25, 2].
    g1, g2 = np.array([0.5, -1.0]), np.array([0.25, 2.0])

    def steps(opt):
        w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
        out = []
        for g in (g1, g2):
            w.grad = torch.from_numpy(g.copy())
            opt.apply({"w": w})
            out.append(w.detach().numpy().copy())
        return out

    w0 = np.array([1.0, -2.0])
    s = steps(Optimizer("sgd", 0.1))
    check("SGD: w - lr*g", s[1], w0 - 0.1 * g1 - 0.1 * g2)
    s = steps(Optimizer("sgd", 0.1, momentum=0.9))
    m1 = -0.1 * g1
    m2 = 0.9 * m1 - 0.1 * g2
    check("SGD momentum: m = mu*m - lr*g, w += m", s[1], w0 + m1 + m2)
    s = steps(Optimizer("sgd", 0.1, momentum=0.9, nesterov=True))
    check("SGD nesterov: w += mu*m - lr*g", s[1],
          w0 + (0.9 * m1 - 0.1 * g1) + (0.9 * m2 - 0.1 * g2))
    s = steps(Optimizer("adam", 0.01))
    m, v, w = np.zeros(2), np.zeros(2), w0.copy()
    for t, g in enumerate((g1, g2), start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    check("Adam: epsilon-hat form, t from 1", s[1], w)
    # The first Adam step is lr * g / (|g| + eps / sqrt(1 - b2)) exactly.
    check("Adam: first step ~ lr*sign(g)", s[0], w0 - 0.01 * g1 / (np.abs(g1) + 1e-7 /
                                                                    math.sqrt(0.001)))
    s = steps(Optimizer("rmsprop", 0.01))
    v, w = np.zeros(2), w0.copy()
    for g in (g1, g2):
        v = 0.9 * v + 0.1 * g * g
        w = w - 0.01 * g / np.sqrt(v + 1e-7)
    check("RMSprop: eps inside the square root", s[1], w)
    s = steps(Optimizer("rmsprop", 0.01, momentum=0.5))
    v, mom, w = np.zeros(2), np.zeros(2), w0.copy()
    for g in (g1, g2):
        v = 0.9 * v + 0.1 * g * g
        mom = 0.5 * mom + 0.01 * g / np.sqrt(v + 1e-7)
        w = w - mom
    check("RMSprop with momentum", s[1], w)
    check("Keras default rates", [Optimizer(k).lr for k in ("sgd", "rmsprop", "adam")],
          [0.01, 0.001, 0.001])

    # Loss: clipped, renormalised probabilities.
    p = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=torch.float64)
    got = sparse_cce(p, torch.tensor([2, 1])).numpy()
    check("sparse CCE: -log p[y], p clipped to [1e-7, 1-1e-7]", got,
          [-math.log(0.5), -math.log(1e-7)])

    # BatchNormalization + Dense trained by hand: x (2, 1, 2, 2).
    xin = np.array([[[[1.0, 2.0], [3.0, -1.0]]], [[[0.0, 4.0], [-2.0, 1.0]]]])
    gamma, beta = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    mmean, mvar = np.array([0.3, -0.4]), np.array([2.0, 0.5])
    kern, bias = np.array([[0.2, -0.3], [0.4, 0.1]]), np.array([0.05, -0.05])
    wts = {"bn": [("gamma", gamma), ("beta", beta), ("moving_mean", mmean),
                  ("moving_variance", mvar)],
           "predictions": [("kernel", kern), ("bias", bias)]}
    labels = np.array([1, 0])
    xc = xin.reshape(4, 2)
    bmean, bvar = xc.mean(0), xc.var(0)  # biased
    for bn_trainable in (True, False):
        tr = Trainer(_tiny_config(bn_trainable), wts)
        hist = train(tr, xin, labels, 1, 2, Optimizer("sgd", 0.5))
        mean_u, var_u = (bmean, bvar) if bn_trainable else (mmean, mvar)
        xn = (xin - mean_u) / np.sqrt(var_u + 1e-3) * gamma + beta      # (2, 1, 2, 2)
        f = xn.mean(axis=(1, 2))                                        # (2, 2)
        z = f @ kern + bias
        pr = np.exp(z - z.max(1, keepdims=True))
        pr /= pr.sum(1, keepdims=True)
        loss = -np.mean(np.log(pr[np.arange(2), labels]))
        dz = (pr - np.eye(2)[labels]) / 2
        fw = tr.final_weights()
        what = "trainable BN (batch stats)" if bn_trainable else "frozen BN (moving stats)"
        check(f"{what}: loss", hist["loss"][0], loss)
        check(f"{what}: Dense kernel after one SGD step", fw["predictions"][0][1],
              kern - 0.5 * f.T @ dz)
        check(f"{what}: Dense bias after one SGD step", fw["predictions"][1][1],
              bias - 0.5 * dz.sum(0))
        if bn_trainable:
            check("trainable BN: moving = 0.9*moving + 0.1*batch (biased variance)",
                  np.concatenate([fw["bn"][2][1], fw["bn"][3][1]]),
                  np.concatenate([0.9 * mmean + 0.1 * bmean, 0.9 * mvar + 0.1 * bvar]))
            # d loss / d beta = sum over the 2 pixels of d loss / d y_bn, each
            # 1/2 (the pooling) of the feature gradient dz @ kernel^T.
            dbeta = (dz @ kern.T).sum(0)
            check("trainable BN: beta after one SGD step", fw["bn"][1][1], beta - 0.5 * dbeta)
        else:
            check("frozen BN: moving statistics unchanged",
                  np.concatenate([fw["bn"][2][1], fw["bn"][3][1]]),
                  np.concatenate([mmean, mvar]), tol=0)
            check("frozen BN: gamma/beta unchanged",
                  np.concatenate([fw["bn"][0][1], fw["bn"][1][1]]),
                  np.concatenate([gamma, beta]), tol=0)
    # The fast convolution paths against keras_torch's F.conv2d ones.
    rng = np.random.default_rng(5)
    convs = [("DepthwiseConv2D", dict(kernel_size=[3, 3], strides=[1, 1], padding="same",
                                      depth_multiplier=1), (5, 6, 3)),
             ("DepthwiseConv2D", dict(kernel_size=[3, 3], strides=[2, 2], padding="valid",
                                      depth_multiplier=2), (7, 6, 3)),
             ("DepthwiseConv2D", dict(kernel_size=[3, 2], strides=[2, 2], padding="same",
                                      depth_multiplier=1), (6, 5, 2)),
             ("DepthwiseConv2D", dict(kernel_size=[3, 3], strides=[1, 1], padding="same",
                                      dilation_rate=[2, 2], depth_multiplier=1), (7, 7, 2)),
             ("Conv2D", dict(kernel_size=[1, 1], strides=[1, 1], padding="same",
                             filters=4), (3, 4, 5)),
             ("Conv2D", dict(kernel_size=[1, 1], strides=[2, 2], padding="valid",
                             filters=3), (5, 4, 2))]
    for cls_name, cfg, shp in convs:
        cls = kt.LAYER_CLASSES[cls_name]
        cfg = dict(cfg, use_bias=True, activation="linear")
        arrays = [rng.standard_normal(ws) for ws in cls.weight_shapes(cfg, shp[2])]
        mod = cls(cfg, "c", arrays, torch.float64)
        x = torch.from_numpy(rng.standard_normal((2,) + shp)).permute(0, 3, 1, 2)
        want = mod([x])
        mod._conv = _fast_conv(mod)
        check(f"fast {cls_name} {cfg['kernel_size']} strides {cfg['strides']} "
              f"{cfg['padding']} = F.conv2d", mod([x]).numpy(), want.numpy(), tol=1e-12)
    # preprocess_input modes.
    px = np.array([[0.0, 127.5, 255.0]])
    check("preprocess tf: x/127.5 - 1", preprocess_input(px, "tf", np.float64), [[-1, 0, 1]])
    check("preprocess caffe: BGR minus the mean", preprocess_input(px, "caffe", np.float64),
          [[255 - 103.939, 127.5 - 116.779, 0 - 123.68]])
    check("preprocess torch: /255, minus mean, over std",
          preprocess_input(px, "torch", np.float64),
          [[(0 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (1 - 0.406) / 0.225]])
    # --unfreeze-from: that layer and every later one.
    tr = Trainer(_tiny_config(False, False), wts, unfreeze_from="gap")
    check("--unfreeze-from includes the layer and later ones",
          [tr.trainable[n] for n in tr.order], [False, False, True, True], tol=0)
    if verbose:
        print(f"selfcheck: {len(fails)} failure(s)")
    return len(fails)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _parser():
    p = argparse.ArgumentParser(description="Replay a deterministic `zoo finetune` run "
                                "with Keras 3 training semantics (PyTorch, float64).")
    p.add_argument("--init", help="OUT.h5 of the '--epochs 0' run (model_config, "
                   "model_weights, zoo_class_names, zoo_attrs)")
    p.add_argument("--data", help="class-folder dataset")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--optimizer", default="adam", choices=["sgd", "rmsprop", "adam"])
    p.add_argument("--lr", type=float, default=0.0, help="0: Keras's default")
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--unfreeze-from", help="trainable = this layer and every later one "
                   "(default: the config's trainable flags)")
    p.add_argument("--image-size", help="H,W (default: the model's input size)")
    p.add_argument("--preprocess", choices=["caffe", "tf", "torch"],
                   help="default: the file's zoo_attrs 'preprocess'")
    p.add_argument("--preprocess-float64", action="store_true",
                   help="preprocess_input in float64 (default: float32, as Keras's NumPy "
                   "preprocess_input on img_to_array's float32 array)")
    p.add_argument("--frozen-bn-training", action="store_true",
                   help="frozen BN in training mode (pre-TF2 Keras; for negative controls)")
    p.add_argument("--float32", action="store_true",
                   help="train in float32 instead (to measure rounding sensitivity)")
    p.add_argument("--out", help="final weights, legacy save_weights .h5 (float32)")
    p.add_argument("--npz", help="final weights, float64 .npz ('layer/weight' keys)")
    p.add_argument("--history", help="per-epoch loss/accuracy and batch losses, JSON")
    p.add_argument("--compare", help="another trainer's final .h5 to check")
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--runs", help="JSON list of runs (objects keyed by the long option "
                   "names, '-' as '_'); one process")
    p.add_argument("--selfcheck", action="store_true")
    return p


def main(argv=None):
    p = _parser()
    a = p.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.selfcheck:
        return 1 if selfcheck() else 0
    try:
        if a.runs:
            with open(a.runs, "r", encoding="utf-8") as f:
                runs = json.load(f)
            defaults = {k: v for k, v in vars(p.parse_args([])).items()}
            bad = 0
            for r in runs:
                opts = dict(defaults)
                opts.update({k.replace("-", "_"): v for k, v in r.items()})
                print(f"keras_train: run {opts.get('name', opts.get('out'))}", flush=True)
                bad += run(opts)
            return 1 if bad else 0
        if not a.init or not a.data:
            p.error("--init and --data are required (or --runs / --selfcheck)")
        return 1 if run(vars(a)) else 0
    except (ReplayError, kt.KerasConfigError, OSError) as e:
        print(f"keras_train: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
