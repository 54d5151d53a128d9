#!/usr/bin/python3
"""Keras .h5 weight files for tests/test_h5_weights.c, and a checker.

Usage:
  h5_cases.py OUT_DIR
      Writes weight files in the layouts Keras and h5py produce, hostile
      files, the arrays they hold (.npy, float32) and OUT_DIR/manifest.json.
  h5_cases.py check FILE [--model NAME --arrays DIR] [--expect SPEC.json]
      Reads FILE (written by zoo_model_save_weights) the way Keras's
      legacy loader does and checks the layout tf.keras 2.x writes; prints
      OK and exits 0, or prints every problem and exits 1.

Models (the C test builds them with exactly these names, shapes and
layer order; model.layers of a Functional model includes the InputLayer,
a Sequential one does not):

  small    Functional. input_1: Input((6, 6, 3));
           conv: Conv2D(4, 3x3, padding='same');  kernel (3,3,3,4), bias (4,)
           bn: BatchNormalization(epsilon=1e-3);   gamma, beta, moving_mean,
                                                   moving_variance (4,)
           relu: ReLU; gap: GlobalAveragePooling2D;
           dense: Dense(5, softmax);                kernel (4,5), bias (5,)
  noscale  Functional. input_1: Input((4, 4, 2));
           conv: Conv2D(3, 1x1, use_bias=False);   kernel (1,1,2,3)
           bn: BatchNormalization(scale=False);    beta, moving_mean,
                                                   moving_variance (3,)
           gap: GlobalAveragePooling2D
  mlp      Functional. input_1: Input((4,)); d1: Dense(4); d2: Dense(4);
           d3: Dense(3)  (linear activations)
  seq      Sequential on input (4,): d: Dense(3)

Arrays: MODEL.LAYER.I.npy is weight I of LAYER (Keras's weight order);
"small64" holds the float32 values of the float64 file. MODEL_x.npy is an
input and MODEL_y.npy the output of an independent NumPy float64 forward
pass (TensorFlow 'same' padding, BN epsilon 1e-3).

The reference for the layouts is the Keras source
(keras/src/legacy/saving/legacy_h5_format.py; tf.keras 2.x
hdf5_format.py) and h5py's string rules: h5py 2 wrote NumPy 'S' arrays
(fixed-length NULLPAD ASCII), h5py 3 writes Python bytes/str as
variable-length ASCII/UTF-8, and [] as an empty float64 array.
"""
import json
import os
import sys

import h5py
import numpy as np

SEED = 20240712
HDF5_OBJECT_HEADER_LIMIT = 64512  # keras legacy_h5_format.py

# ---------------------------------------------------------------------------
# Models and their arrays
# ---------------------------------------------------------------------------

MODELS = {
    "small": {
        "layers": [
            ("input_1", []),
            ("conv", [("kernel", (3, 3, 3, 4)), ("bias", (4,))]),
            ("bn", [("gamma", (4,)), ("beta", (4,)), ("moving_mean", (4,)),
                    ("moving_variance", (4,))]),
            ("relu", []),
            ("gap", []),
            ("dense", [("kernel", (4, 5)), ("bias", (5,))]),
        ],
    },
    "noscale": {
        "layers": [
            ("input_1", []),
            ("conv", [("kernel", (1, 1, 2, 3))]),
            ("bn", [("beta", (3,)), ("moving_mean", (3,)),
                    ("moving_variance", (3,))]),
            ("gap", []),
        ],
    },
    "mlp": {
        "layers": [
            ("input_1", []),
            ("d1", [("kernel", (4, 4)), ("bias", (4,))]),
            ("d2", [("kernel", (4, 4)), ("bias", (4,))]),
            ("d3", [("kernel", (4, 3)), ("bias", (3,))]),
        ],
    },
    "seq": {
        "layers": [("d", [("kernel", (4, 3)), ("bias", (3,))])],
    },
}


def make_arrays(rng, model, dtype=np.float32):
    """{layer: [arrays]} with positive BN variances."""
    out = {}
    for name, weights in MODELS[model]["layers"]:
        arrs = []
        for wname, shape in weights:
            if wname == "moving_variance":
                a = rng.uniform(0.5, 2.0, shape)
            elif wname == "gamma":
                a = rng.uniform(0.5, 1.5, shape)
            else:
                a = rng.uniform(-1.0, 1.0, shape)
            arrs.append(a.astype(dtype))
        out[name] = arrs
    return out


def keras2_weights(arrays, model):
    """[(layer, [(weight_name, array)])] with tf.keras names 'l/w:0'."""
    res = []
    for name, weights in MODELS[model]["layers"]:
        res.append((name, [(f"{name}/{w}:0", a)
                           for (w, _), a in zip(weights, arrays[name])]))
    return res


# ---------------------------------------------------------------------------
# Independent forward passes (float64)
# ---------------------------------------------------------------------------


def conv2d_same(x, k, b):
    """NHWC conv, stride 1, TF 'same' (odd pixel bottom/right)."""
    kh, kw = k.shape[:2]
    t, l = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (t, kh - 1 - t), (l, kw - 1 - l), (0, 0)))
    n, h, w, _ = x.shape
    y = np.zeros((n, h, w, k.shape[3]))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + w, :],
                           k[i, j])
    return y if b is None else y + b


def bn(x, gamma, beta, mean, var, eps=1e-3):
    g = 1.0 if gamma is None else gamma
    return g * (x - mean) / np.sqrt(var + eps) + beta


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def forward_small(a, x):
    a = {k: [v.astype(np.float64) for v in vs] for k, vs in a.items()}
    y = conv2d_same(x.astype(np.float64), *a["conv"])
    y = np.maximum(bn(y, *a["bn"]), 0.0)
    y = y.mean(axis=(1, 2))
    return softmax(y @ a["dense"][0] + a["dense"][1])


def forward_noscale(a, x):
    a = {k: [v.astype(np.float64) for v in vs] for k, vs in a.items()}
    y = conv2d_same(x.astype(np.float64), a["conv"][0], None)
    y = bn(y, None, *a["bn"])
    return y.mean(axis=(1, 2))


# ---------------------------------------------------------------------------
# Attribute writers, one per encoding seen in real files
# ---------------------------------------------------------------------------


def set_strs(obj, name, strs, enc):
    """enc: 'fixed' (h5py 2 / NumPy S), 'ascii' or 'utf8' (h5py 3 vlen)."""
    if not strs:
        obj.attrs[name] = []  # h5py: empty float64 array, as Keras writes
    elif enc == "fixed":
        obj.attrs[name] = np.array([s.encode("utf8") for s in strs])
    elif enc == "ascii":
        obj.attrs[name] = np.array([s.encode("utf8") for s in strs],
                                   dtype=h5py.string_dtype("ascii"))
    else:
        obj.attrs[name] = np.array(strs, dtype=h5py.string_dtype("utf-8"))


def set_str(obj, name, s, enc):
    if enc == "fixed":
        obj.attrs[name] = np.bytes_(s.encode("utf8"))
    elif enc == "ascii":
        obj.attrs[name] = s.encode("utf8")  # h5py 3: vlen ASCII scalar
    else:
        obj.attrs[name] = s  # h5py 3: vlen UTF-8 scalar


def set_strs_lowlevel(obj, name, strs, pad, cset, scalar=False):
    """Fixed-length strings with an explicit pad and character set."""
    data = [s.encode("utf8") for s in strs]
    size = max(len(d) for d in data) + (1 if pad == h5py.h5t.STR_NULLTERM else 0)
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(size)
    tid.set_strpad(pad)
    tid.set_cset(cset)
    if pad == h5py.h5t.STR_SPACEPAD:
        data = [d.ljust(size, b" ") for d in data]
    arr = np.array(data, dtype=f"S{size}")
    if scalar:
        space = h5py.h5s.create(h5py.h5s.SCALAR)
        arr = arr.reshape(())
    else:
        space = h5py.h5s.create_simple((len(data),))
    aid = h5py.h5a.create(obj.id, name.encode(), tid, space)
    aid.write(arr, mtype=tid)


def write_layers(f, layers, enc="fixed", order=None, version="2.15.0",
                 backend="tensorflow", top_level=None, sort_groups=False,
                 dtype=None):
    """The legacy weights layout into group f. `layers`: [(name,
    [(weight_name, array)])] in model.layers order; `order` overrides the
    layer_names list; `top_level`: weight list for top_level_model_weights
    (None: no such group)."""
    names = order if order is not None else [n for n, _ in layers]
    set_strs(f, "layer_names", names, enc)
    if backend is not None:
        set_str(f, "backend", backend, enc)
    if version is not None:
        set_str(f, "keras_version", version, enc)
    groups = sorted(layers) if sort_groups else layers
    for name, weights in groups:
        g = f.create_group(name)
        set_strs(g, "weight_names", [w for w, _ in weights], enc)
        for wname, arr in weights:
            g.create_dataset(wname, data=arr if dtype is None else arr.astype(dtype))
    if top_level is not None:
        g = f.create_group("top_level_model_weights")
        set_strs(g, "weight_names", [w for w, _ in top_level], enc)
        for wname, arr in top_level:
            g.create_dataset(wname, data=arr)


def save_npys(out, prefix, arrays):
    for layer, arrs in arrays.items():
        for i, a in enumerate(arrs):
            np.save(os.path.join(out, f"{prefix}.{layer}.{i}.npy"),
                    np.ascontiguousarray(a, dtype="<f4"))


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


def generate(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    P = lambda name: os.path.join(out, name)
    good = []  # (file, model, arrays prefix)

    # ---- small: every good layout holds the same arrays ----
    small = make_arrays(rng, "small")
    save_npys(out, "small", small)
    x = rng.uniform(-1.0, 1.0, (2, 6, 6, 3)).astype(np.float32)
    np.save(P("small_x.npy"), x)
    np.save(P("small_y.npy"), forward_small(small, x).astype("<f4"))
    k2 = keras2_weights(small, "small")

    # Keras 2 multi-backend + h5py 2: fixed-length strings, no top level.
    with h5py.File(P("small_fixed.h5"), "w") as f:
        write_layers(f, k2, enc="fixed", version="2.2.4")
    good.append(("small_fixed.h5", "small", "small"))

    # tf.keras 2.x + h5py 3: variable-length strings (UTF-8 layer names,
    # ASCII weight names), groups created in name order, empty top level.
    with h5py.File(P("small_vlen.h5"), "w") as f:
        set_strs(f, "layer_names", [n for n, _ in k2], "utf8")
        set_str(f, "backend", "tensorflow", "utf8")
        set_str(f, "keras_version", "2.15.0", "utf8")
        for name, weights in sorted(k2):
            g = f.create_group(name)
            set_strs(g, "weight_names", [w for w, _ in weights], "ascii")
            for wname, arr in weights:
                g.create_dataset(wname, data=arr)
        g = f.create_group("top_level_model_weights")
        g.attrs["weight_names"] = []
    good.append(("small_vlen.h5", "small", "small"))

    # Chunked layer_names0..2 and a chunked weight_names (bn).
    with h5py.File(P("small_chunked.h5"), "w") as f:
        names = np.array([n.encode() for n, _ in k2])
        for i, part in enumerate(np.array_split(names, 3)):
            f.attrs[f"layer_names{i}"] = part
        set_str(f, "backend", "tensorflow", "fixed")
        set_str(f, "keras_version", "2.15.0", "fixed")
        for name, weights in k2:
            g = f.create_group(name)
            wn = np.array([w.encode() for w, _ in weights])
            if name == "bn":
                g.attrs["weight_names0"] = wn[:3]
                g.attrs["weight_names1"] = wn[3:]
            else:
                set_strs(g, "weight_names", [w for w, _ in weights], "fixed")
            for wname, arr in weights:
                g.create_dataset(wname, data=arr)
    good.append(("small_chunked.h5", "small", "small"))

    # Keras 1: auto layer names, '_W'/'_b' weight names without '/', BN
    # running_std (the variance), no keras_version / backend.
    k1_names = {"input_1": "input_1", "conv": "convolution2d_1",
                "bn": "batchnormalization_1", "relu": "activation_1",
                "gap": "globalaveragepooling2d_1", "dense": "dense_1"}
    k1_suffix = {"kernel": "W", "bias": "b", "gamma": "gamma",
                 "beta": "beta", "moving_mean": "running_mean",
                 "moving_variance": "running_std"}
    k1 = []
    for name, weights in MODELS["small"]["layers"]:
        n1 = k1_names[name]
        k1.append((n1, [(f"{n1}_{k1_suffix[w]}:0", a)
                        for (w, _), a in zip(weights, small[name])]))
    with h5py.File(P("small_keras1.h5"), "w") as f:
        write_layers(f, k1, enc="fixed", version=None, backend=None)
    good.append(("small_keras1.h5", "small", "small"))

    # Full model file: model_config + model_weights (+ optimizer weights).
    with h5py.File(P("small_full.h5"), "w") as f:
        set_str(f, "keras_version", "2.15.0", "utf8")
        set_str(f, "backend", "tensorflow", "utf8")
        f.attrs["model_config"] = json.dumps(
            {"class_name": "Functional",
             "config": {"name": "small", "layers": []}}).encode()
        f.attrs["training_config"] = json.dumps(
            {"loss": "categorical_crossentropy",
             "optimizer_config": {"class_name": "Adam", "config": {}}}).encode()
        mw = f.create_group("model_weights")
        write_layers(mw, k2, enc="ascii", top_level=[])
        ow = f.create_group("optimizer_weights")
        set_strs(ow, "weight_names", ["Adam/iter:0"], "ascii")
        ow.create_dataset("Adam/iter:0", data=np.int64(7))
    good.append(("small_full.h5", "small", "small"))

    # NULLTERM UTF-8 layer names, SPACEPAD weight names, scalar version.
    with h5py.File(P("small_lowlevel.h5"), "w") as f:
        set_strs_lowlevel(f, "layer_names", [n for n, _ in k2],
                          h5py.h5t.STR_NULLTERM, h5py.h5t.CSET_UTF8)
        set_strs_lowlevel(f, "keras_version", ["2.15.0"],
                          h5py.h5t.STR_NULLTERM, h5py.h5t.CSET_ASCII,
                          scalar=True)
        for name, weights in k2:
            g = f.create_group(name)
            if weights:
                set_strs_lowlevel(g, "weight_names", [w for w, _ in weights],
                                  h5py.h5t.STR_SPACEPAD, h5py.h5t.CSET_ASCII)
            else:
                g.attrs.create("weight_names", np.zeros((0,), np.int32))
            for wname, arr in weights:
                g.create_dataset(wname, data=arr)
    good.append(("small_lowlevel.h5", "small", "small"))

    # float64 datasets (values beyond float32 precision; zoo rounds).
    small64 = make_arrays(rng, "small", dtype=np.float64)
    save_npys(out, "small64", {k: [a.astype(np.float32) for a in v]
                               for k, v in small64.items()})
    with h5py.File(P("small_float64.h5"), "w") as f:
        write_layers(f, keras2_weights(small64, "small"), enc="fixed")
    good.append(("small_float64.h5", "small", "small64"))

    # ---- noscale: BatchNormalization(scale=False), 3 arrays ----
    ns = make_arrays(rng, "noscale")
    save_npys(out, "noscale", ns)
    xn = rng.uniform(-1.0, 1.0, (3, 4, 4, 2)).astype(np.float32)
    np.save(P("noscale_x.npy"), xn)
    np.save(P("noscale_y.npy"), forward_noscale(ns, xn).astype("<f4"))
    with h5py.File(P("noscale.h5"), "w") as f:
        write_layers(f, keras2_weights(ns, "noscale"), enc="fixed",
                     top_level=[])
    good.append(("noscale.h5", "noscale", "noscale"))

    # ---- seq: scalar layer_names (a one-layer Sequential) ----
    sq = make_arrays(rng, "seq")
    save_npys(out, "seq", sq)
    with h5py.File(P("seq_scalar.h5"), "w") as f:
        set_str(f, "layer_names", "d", "utf8")
        set_str(f, "keras_version", "2.15.0", "fixed")
        g = f.create_group("d")
        set_strs(g, "weight_names", ["d/kernel:0", "d/bias:0"], "fixed")
        g.create_dataset("d/kernel:0", data=sq["d"][0])
        g.create_dataset("d/bias:0", data=sq["d"][1])
    good.append(("seq_scalar.h5", "seq", "seq"))

    # ---- mlp: pairing by order / by name / skip_mismatch ----
    mlp = make_arrays(rng, "mlp")
    save_npys(out, "mlp", mlp)
    km = keras2_weights(mlp, "mlp")
    with h5py.File(P("mlp.h5"), "w") as f:
        write_layers(f, km)
    good.append(("mlp.h5", "mlp", "mlp"))
    # Same groups, other layer_names orders.
    with h5py.File(P("mlp_swapped.h5"), "w") as f:
        write_layers(f, km, order=["input_1", "d2", "d1", "d3"])
    with h5py.File(P("mlp_reordered.h5"), "w") as f:
        write_layers(f, km, order=["input_1", "d3", "d1", "d2"])
    # d1 plus a layer the model does not have.
    extra = [("extra", [("extra/kernel:0", rng.uniform(-1, 1, (5, 5)).astype(np.float32)),
                        ("extra/bias:0", np.zeros(5, np.float32))])]
    with h5py.File(P("mlp_partial.h5"), "w") as f:
        write_layers(f, [km[0], km[1]] + extra)
    # d2's kernel has the wrong shape (its bias is right).
    bad_kernel = rng.uniform(-1, 1, (5, 4)).astype(np.float32)
    wrong = [km[0], km[1], ("d2", [("d2/kernel:0", bad_kernel),
                                   km[2][1][1]]), km[3]]
    with h5py.File(P("mlp_wrong_shape.h5"), "w") as f:
        write_layers(f, wrong)
    # d2 has one array instead of two.
    with h5py.File(P("mlp_wrong_count.h5"), "w") as f:
        write_layers(f, [km[0], km[1], ("d2", [km[2][1][0]]), km[3]])
    # A model-level weight in top_level_model_weights.
    with h5py.File(P("mlp_top_level.h5"), "w") as f:
        write_layers(f, km, top_level=[("scale:0", np.ones(1, np.float32))])

    # ---- hostile files (model small) ----
    raw = open(P("small_fixed.h5"), "rb").read()
    with open(P("bad_truncated.h5"), "wb") as fh:
        fh.write(raw[: len(raw) * 6 // 10])
    with open(P("bad_random.h5"), "wb") as fh:
        fh.write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    open(P("bad_empty.h5"), "wb").close()

    def variant(fname, mutate, k=k2):
        with h5py.File(P(fname), "w") as f:
            write_layers(f, k)
            mutate(f)

    variant("bad_no_weight_names.h5",
            lambda f: f["conv"].attrs.__delitem__("weight_names"))

    def int32_kernel(f):
        del f["conv/conv/kernel:0"]
        f["conv"].create_dataset("conv/kernel:0",
                                 data=np.zeros((3, 3, 3, 4), np.int32))
    variant("bad_int32.h5", int32_kernel)

    def string_bias(f):
        del f["conv/conv/bias:0"]
        f["conv"].create_dataset("conv/bias:0", data=np.array([b"a"] * 4))
    variant("bad_string_dataset.h5", string_bias)

    def wrong_shape(f):
        del f["dense/dense/kernel:0"]
        f["dense"].create_dataset("dense/kernel:0",
                                  data=np.zeros((5, 4), np.float32))
    variant("bad_wrong_shape.h5", wrong_shape)

    variant("bad_missing_group.h5", lambda f: f.move("bn", "bn_renamed"))
    variant("bad_missing_dataset.h5",
            lambda f: f["dense"].__delitem__("dense/bias:0"))

    def weight_is_group(f):
        del f["dense/dense/bias:0"]
        f["dense"].create_group("dense/bias:0")
    variant("bad_weight_is_group.h5", weight_is_group)

    def names_int(f):
        del f.attrs["layer_names"]
        f.attrs["layer_names"] = np.arange(6, dtype=np.int32)
    variant("bad_names_int.h5", names_int)

    def names_2d(f):
        del f.attrs["layer_names"]
        f.attrs["layer_names"] = np.array([[b"input_1", b"conv", b"bn"],
                                           [b"relu", b"gap", b"dense"]])
    variant("bad_names_2d.h5", names_2d)

    def theano(f):
        f.attrs["backend"] = np.bytes_(b"theano")
    variant("bad_theano.h5", theano)

    # Keras 3 .weights.h5: object tree, no layer_names.
    with h5py.File(P("bad_keras3.h5"), "w") as f:
        f.create_dataset("layers/conv2d/vars/0", data=small["conv"][0])
        f.create_dataset("layers/conv2d/vars/1", data=small["conv"][1])
        f.create_group("vars")
    # A full-model file whose model_weights group lost its attributes.
    with h5py.File(P("bad_model_weights_empty.h5"), "w") as f:
        f.attrs["model_config"] = b'{"class_name": "Functional"}'
        f.create_group("model_weights")
    # Some other HDF5 file.
    with h5py.File(P("bad_not_keras.h5"), "w") as f:
        f.create_dataset("data", data=np.arange(10.0))

    manifest = {
        "generator": "tests/oracle/h5_cases.py",
        "seed": SEED,
        "good": [{"file": f, "model": m, "arrays": a} for f, m, a in good],
        "models": {k: [[n, [[w, list(s)] for w, s in ws]] for n, ws in v["layers"]]
                   for k, v in MODELS.items()},
    }
    tmp = P("manifest.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(manifest, fh, indent=1)
    os.replace(tmp, P("manifest.json"))


# ---------------------------------------------------------------------------
# Checker: a zoo-saved file, read as Keras's legacy loader reads it
# ---------------------------------------------------------------------------


def load_attributes_from_hdf5_group(group, name):
    """Keras's reader, verbatim in substance (legacy_h5_format.py)."""
    if name in group.attrs:
        data = [n.decode("utf8") if hasattr(n, "decode") else n
                for n in group.attrs[name]]
    else:
        data = []
        chunk_id = 0
        while f"{name}{chunk_id}" in group.attrs:
            data.extend([n.decode("utf8") if hasattr(n, "decode") else n
                         for n in group.attrs[f"{name}{chunk_id}"]])
            chunk_id += 1
    return data


def check_string_attr(obj, name, errors, where):
    """tf.keras + h5py 2: 1-D fixed-length NULLPAD ASCII, or chunks of it
    when too big; an empty list is h5py's empty float64 array."""
    keys = [name] if name in obj.attrs else []
    k = 0
    while not keys and f"{name}{k}" in obj.attrs:
        k += 1
    if not keys:
        keys = [f"{name}{i}" for i in range(k)]
        if k == 1:
            errors.append(f"{where}: a single chunk '{name}0' (Keras writes "
                          f"'{name}' unless it needs 2+ chunks)")
    if not keys:
        errors.append(f"{where}: no attribute '{name}'")
    for key in keys:
        aid = obj.attrs.get_id(key)
        t, s = aid.get_type(), aid.get_space()
        if s.get_simple_extent_type() != h5py.h5s.SIMPLE or len(s.shape) != 1:
            errors.append(f"{where}: attribute '{key}' is not a 1-D array")
            continue
        if s.shape[0] == 0:
            if not isinstance(t, h5py.h5t.TypeFloatID) or t.get_size() != 8:
                errors.append(f"{where}: empty attribute '{key}' is not "
                              f"float64 as h5py writes []")
            continue
        if not isinstance(t, h5py.h5t.TypeStringID) or t.is_variable_str():
            errors.append(f"{where}: attribute '{key}' is not fixed-length strings")
            continue
        if t.get_strpad() != h5py.h5t.STR_NULLPAD or t.get_cset() != h5py.h5t.CSET_ASCII:
            errors.append(f"{where}: attribute '{key}' is not NULLPAD ASCII")
        if s.shape[0] * t.get_size() > HDF5_OBJECT_HEADER_LIMIT:
            errors.append(f"{where}: attribute '{key}' has "
                          f"{s.shape[0] * t.get_size()} bytes, over Keras's "
                          f"{HDF5_OBJECT_HEADER_LIMIT}")
    return len(keys)


def check_scalar_str(obj, name, want, errors):
    if name not in obj.attrs:
        errors.append(f"root: no attribute '{name}'")
        return
    v = obj.attrs[name]
    v = v.decode("utf8") if hasattr(v, "decode") else v
    if v != want:
        errors.append(f"root: {name} is {v!r}, expected {want!r}")


def check(path, spec, arrays_dir=None, arrays_prefix=None, chunks=None):
    """spec: {"layers": [[name, [[weight, shape], ...]], ...]} in
    model.layers order. Returns a list of problems."""
    errors = []
    f = h5py.File(path, "r")
    if "layer_names" not in f.attrs and "model_weights" in f:
        f = f["model_weights"]
    n_chunks = check_string_attr(f, "layer_names", errors, "root")
    if chunks is not None and n_chunks != chunks:
        errors.append(f"root: layer_names in {n_chunks} attribute(s), "
                      f"expected {chunks}")
    check_scalar_str(f, "backend", "tensorflow", errors)
    check_scalar_str(f, "keras_version", "2.15.0", errors)

    layer_names = load_attributes_from_hdf5_group(f, "layer_names")
    want_names = [n for n, _ in spec["layers"]]
    if layer_names != want_names:
        errors.append(f"layer_names {layer_names[:8]}... differ from the "
                      f"model's {want_names[:8]}...")
        return errors

    # Keras's order-based pairing (load_weights_from_hdf5_group).
    filtered = [(n, ws) for n, ws in spec["layers"] if ws]
    filtered_names = []
    for name in layer_names:
        g = f[name]
        check_string_attr(g, "weight_names", errors, f"group '{name}'")
        if load_attributes_from_hdf5_group(g, "weight_names"):
            filtered_names.append(name)
        else:
            members = []
            g.visit(members.append)
            if members:
                errors.append(f"group '{name}' has no weights but holds {members}")
    if len(filtered_names) != len(filtered):
        errors.append(f"Layer count mismatch: file {len(filtered_names)}, "
                      f"model {len(filtered)}")
        return errors
    for k, name in enumerate(filtered_names):
        g = f[name]
        weight_names = load_attributes_from_hdf5_group(g, "weight_names")
        lname, lweights = filtered[k]
        if name != lname:
            errors.append(f"layer #{k}: file '{name}' vs model '{lname}'")
        if len(weight_names) != len(lweights):
            errors.append(f"layer {lname}: {len(weight_names)} weights in the "
                          f"file, {len(lweights)} in the model")
            continue
        for i, (wn, (w, shape)) in enumerate(zip(weight_names, lweights)):
            if wn != f"{lname}/{w}:0":
                errors.append(f"layer {lname}: weight {i} named {wn!r}, "
                              f"expected {lname}/{w}:0")
            if wn not in g or not isinstance(g[wn], h5py.Dataset):
                errors.append(f"layer {lname}: no dataset {wn!r}")
                continue
            d = g[wn]
            if d.dtype != np.dtype("<f4"):
                errors.append(f"{d.name}: dtype {d.dtype}, expected <f4")
            if tuple(d.shape) != tuple(shape):
                errors.append(f"{d.name}: shape {d.shape}, expected {tuple(shape)}")
            plist = d.id.get_create_plist()
            if plist.get_layout() != h5py.h5d.CONTIGUOUS or d.compression:
                errors.append(f"{d.name}: not contiguous/uncompressed")
            if arrays_dir is not None:
                want = np.load(os.path.join(arrays_dir,
                                            f"{arrays_prefix}.{lname}.{i}.npy"))
                got = np.asarray(d)
                if got.shape != want.shape or not np.array_equal(got, want):
                    errors.append(f"{d.name}: values differ from "
                                  f"{arrays_prefix}.{lname}.{i}.npy")
    if "top_level_model_weights" in f:
        if load_attributes_from_hdf5_group(f["top_level_model_weights"],
                                           "weight_names"):
            errors.append("top_level_model_weights is not empty")
    else:
        errors.append("no top_level_model_weights group (tf.keras 2.x writes one)")
    return errors


def main():
    args = sys.argv[1:]
    if len(args) == 1 and args[0] not in ("-h", "--help"):
        generate(args[0])
        return 0
    if len(args) >= 2 and args[0] == "check":
        path = args[1]
        opts = dict(zip(args[2::2], args[3::2]))
        spec, prefix = None, None
        if "--expect" in opts:
            with open(opts["--expect"]) as fh:
                spec = json.load(fh)
        elif "--model" in opts:
            prefix = opts["--model"]
            spec = {"layers": [[n, [[w, list(s)] for w, s in ws]]
                               for n, ws in MODELS[prefix]["layers"]]}
        else:
            sys.exit("check needs --model NAME or --expect SPEC.json")
        chunks = int(opts["--chunks"]) if "--chunks" in opts else None
        errors = check(path, spec, opts.get("--arrays"), prefix, chunks)
        if errors:
            for e in errors:
                print("FAIL:", e)
            return 1
        print("OK")
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
