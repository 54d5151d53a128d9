#!/usr/bin/python3
"""Full-model .h5 files for tests/test_model_file.c, and a checker.

Usage:
  model_file_cases.py OUT_DIR
      Writes the files below into OUT_DIR.
  model_file_cases.py check FILE EXPECT.json
      Reads FILE (written by zoo_model_save) with h5py the way Keras's
      legacy loader does and checks it against EXPECT.json; prints OK and
      exits 0, or prints every problem and exits 1.

Files written (h5py + NumPy only; nothing from zoo):

  keras2.h5   a tf.keras 2.x full-model file as h5py 2 wrote them
              (fixed-length NULLPAD strings): root attributes
              keras_version "2.4.0", backend, model_config (class "Model",
              inbound nodes [[["layer", node, 0, {}]]], an InputLayer with
              batch_input_shape, BN axis [3], an L2 kernel regularizer in
              tf.keras form, a layer called twice), training_config;
              group model_weights. The model:
                input_1: Input((5, 5, 2))
                conv:    Conv2D(3, 3x3, padding same, relu, L2(1e-3)),
                         trainable false
                bn:      BatchNormalization(axis 3, epsilon 1e-3,
                         scale False)                 beta, mean, variance
                shared:  Conv2D(3, 1x1, no bias), called on bn, then on
                         its own output
                add:     Add([shared node 0, shared node 1])
                cat:     Concatenate(-1)([add, bn])   6 channels
                gap:     GlobalAveragePooling2D
                drop:    Dropout(0.5)
                predictions: Dense(4, softmax)
              keras2_x.npy is an input batch and keras2_y.npy the output
              of a NumPy float64 forward pass (TensorFlow 'same' padding).
  garbage_config.h5   model_config is not JSON.
  config_int.h5       model_config is an integer attribute.
  lambda.h5           model_config has a Lambda layer.
  archive.keras       a ZIP file, as Keras 3 saves '.keras' models.

EXPECT.json for "check": {"layers": [names in model.layers order],
"weights": {layer: [[dataset name, shape], ...]}, "units": {layer: n},
"class_name": "Functional", "class_names": [...] or null, "attrs": {...}
or null}.
"""
import json
import sys
import zipfile

import h5py
import numpy as np


def fixed(s):
    return np.bytes_(s.encode("utf-8"))


def fixed_list(names):
    return np.array([n.encode("utf-8") for n in names], dtype="S")


def legacy_conv(name, filters, k, act, bias, reg=None, trainable=True):
    return {
        "class_name": "Conv2D",
        "config": {
            "name": name, "trainable": trainable, "dtype": "float32",
            "filters": filters, "kernel_size": [k, k], "strides": [1, 1],
            "padding": "same", "data_format": "channels_last",
            "dilation_rate": [1, 1], "groups": 1, "activation": act,
            "use_bias": bias,
            "kernel_initializer": {"class_name": "GlorotUniform",
                                   "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": reg, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None,
        },
    }


def node(*refs):
    return [[r[0], r[1], 0, {}] for r in refs]


def keras2_config():
    layers = []

    def add(entry, name, nodes):
        entry["name"] = name
        entry["inbound_nodes"] = nodes
        layers.append(entry)

    add({"class_name": "InputLayer",
         "config": {"batch_input_shape": [None, 5, 5, 2], "dtype": "float32",
                    "sparse": False, "ragged": False, "name": "input_1"}},
        "input_1", [])
    add(legacy_conv("conv", 3, 3, "relu", True,
                    {"class_name": "L2",
                     "config": {"l2": 0.0010000000474974513}},
                    trainable=False),
        "conv", [node(("input_1", 0))])
    add({"class_name": "BatchNormalization",
         "config": {"name": "bn", "trainable": True, "dtype": "float32",
                    "axis": [3], "momentum": 0.99, "epsilon": 0.001,
                    "center": True, "scale": False,
                    "beta_initializer": {"class_name": "Zeros", "config": {}},
                    "gamma_initializer": {"class_name": "Ones", "config": {}},
                    "moving_mean_initializer": {"class_name": "Zeros",
                                                "config": {}},
                    "moving_variance_initializer": {"class_name": "Ones",
                                                    "config": {}},
                    "beta_regularizer": None, "gamma_regularizer": None,
                    "beta_constraint": None, "gamma_constraint": None}},
        "bn", [node(("conv", 0))])
    add(legacy_conv("shared", 3, 1, "linear", False), "shared",
        [node(("bn", 0)), node(("shared", 0))])
    add({"class_name": "Add",
         "config": {"name": "add", "trainable": True, "dtype": "float32"}},
        "add", [node(("shared", 0), ("shared", 1))])
    add({"class_name": "Concatenate",
         "config": {"name": "cat", "trainable": True, "dtype": "float32",
                    "axis": -1}},
        "cat", [node(("add", 0), ("bn", 0))])
    add({"class_name": "GlobalAveragePooling2D",
         "config": {"name": "gap", "trainable": True, "dtype": "float32",
                    "data_format": "channels_last", "keepdims": False}},
        "gap", [node(("cat", 0))])
    add({"class_name": "Dropout",
         "config": {"name": "drop", "trainable": True, "dtype": "float32",
                    "rate": 0.5, "noise_shape": None, "seed": None}},
        "drop", [node(("gap", 0))])
    add({"class_name": "Dense",
         "config": {"name": "predictions", "trainable": True,
                    "dtype": "float32", "units": 4, "activation": "softmax",
                    "use_bias": True,
                    "kernel_initializer": {"class_name": "GlorotUniform",
                                           "config": {"seed": None}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}},
                    "kernel_regularizer": None, "bias_regularizer": None,
                    "activity_regularizer": None, "kernel_constraint": None,
                    "bias_constraint": None}},
        "predictions", [node(("drop", 0))])
    return {"class_name": "Model",
            "config": {"name": "keras2_model", "layers": layers,
                       "input_layers": [["input_1", 0, 0]],
                       "output_layers": [["predictions", 0, 0]]},
            "keras_version": "2.4.0", "backend": "tensorflow"}


def conv_same(x, k, b=None):
    """NHWC float64 stride-1 convolution with TensorFlow 'same' padding."""
    kh, kw, cin, cout = k.shape
    n, h, w, _ = x.shape
    ph, pw = kh - 1, kw - 1
    xp = np.zeros((n, h + ph, w + pw, cin))
    xp[:, ph // 2:ph // 2 + h, pw // 2:pw // 2 + w, :] = x
    y = np.zeros((n, h, w, cout))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + w, :], k[i, j])
    return y if b is None else y + b


def write_keras2(out):
    rng = np.random.RandomState(7)
    f32 = lambda a: a.astype(np.float32)
    w = {
        "conv": [f32(rng.uniform(-0.5, 0.5, (3, 3, 2, 3))),
                 f32(rng.uniform(-0.1, 0.1, (3,)))],
        "bn": [f32(rng.uniform(-0.2, 0.2, (3,))),      # beta
               f32(rng.uniform(-0.3, 0.3, (3,))),      # moving_mean
               f32(rng.uniform(0.5, 1.5, (3,)))],      # moving_variance
        "shared": [f32(rng.uniform(-0.6, 0.6, (1, 1, 3, 3)))],
        "predictions": [f32(rng.uniform(-0.7, 0.7, (6, 4))),
                        f32(rng.uniform(-0.1, 0.1, (4,)))],
    }
    names = {"conv": ["conv/kernel:0", "conv/bias:0"],
             "bn": ["bn/beta:0", "bn/moving_mean:0", "bn/moving_variance:0"],
             "shared": ["shared/kernel:0"],
             "predictions": ["predictions/kernel:0", "predictions/bias:0"]}
    cfg = keras2_config()
    order = [ld["name"] for ld in cfg["config"]["layers"]]
    with h5py.File(f"{out}/keras2.h5", "w") as f:
        f.attrs["keras_version"] = fixed("2.4.0")
        f.attrs["backend"] = fixed("tensorflow")
        f.attrs["model_config"] = fixed(json.dumps(cfg))
        f.attrs["training_config"] = fixed(json.dumps(
            {"loss": "categorical_crossentropy", "metrics": ["accuracy"],
             "optimizer_config": {"class_name": "Adam", "config": {}}}))
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = fixed_list(order)
        mw.attrs["backend"] = fixed("tensorflow")
        mw.attrs["keras_version"] = fixed("2.4.0")
        for name in order:
            g = mw.create_group(name)
            if name in w:
                g.attrs["weight_names"] = fixed_list(names[name])
                for dn, arr in zip(names[name], w[name]):
                    g.create_dataset(dn, data=arr)
            else:
                g.attrs["weight_names"] = np.array([], dtype=np.float64)
    # The forward pass in float64.
    x = rng.uniform(-1, 1, (3, 5, 5, 2)).astype(np.float32)
    d = {k: [a.astype(np.float64) for a in v] for k, v in w.items()}
    c = np.maximum(conv_same(x.astype(np.float64), d["conv"][0], d["conv"][1]), 0)
    beta, mean, var = d["bn"]
    bn = (c - mean) / np.sqrt(var + 1e-3) + beta
    s0 = conv_same(bn, d["shared"][0])
    s1 = conv_same(s0, d["shared"][0])
    cat = np.concatenate([s0 + s1, bn], axis=-1)
    gap = cat.mean(axis=(1, 2))
    z = gap @ d["predictions"][0] + d["predictions"][1]
    z = np.exp(z - z.max(axis=1, keepdims=True))
    y = z / z.sum(axis=1, keepdims=True)
    np.save(f"{out}/keras2_x.npy", x)
    np.save(f"{out}/keras2_y.npy", y.astype(np.float32))


def write_hostile(out):
    def weights_group(f):
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = fixed_list(["input_1"])
        mw.create_group("input_1").attrs["weight_names"] = np.array([], dtype=np.float64)

    with h5py.File(f"{out}/garbage_config.h5", "w") as f:
        f.attrs["model_config"] = fixed('{"class_name": "Functional", "config": {')
        weights_group(f)
    with h5py.File(f"{out}/config_int.h5", "w") as f:
        f.attrs["model_config"] = np.int64(42)
        weights_group(f)
    cfg = keras2_config()
    cfg["config"]["layers"].insert(1, {
        "class_name": "Lambda", "name": "lambda",
        "config": {"name": "lambda", "function": ["4wEA", None, None]},
        "inbound_nodes": [node(("input_1", 0))]})
    with h5py.File(f"{out}/lambda.h5", "w") as f:
        f.attrs["model_config"] = fixed(json.dumps(cfg))
        weights_group(f)
    with zipfile.ZipFile(f"{out}/archive.keras", "w") as z:
        z.writestr("metadata.json", '{"keras_version": "3.3.3"}')
        z.writestr("config.json", "{}")


def as_str(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8")
    return str(v)


def check(path, expect_path):
    with open(expect_path) as fh:
        want = json.load(fh)
    problems = []
    with h5py.File(path, "r") as f:
        for key in ("keras_version", "backend", "model_config"):
            if key not in f.attrs:
                problems.append(f"root attribute '{key}' is missing")
        if problems:
            print("\n".join(problems))
            return 1
        if as_str(f.attrs["backend"]) != "tensorflow":
            problems.append(f"backend is {f.attrs['backend']!r}")
        if not as_str(f.attrs["keras_version"]).startswith("2."):
            problems.append(f"keras_version is {f.attrs['keras_version']!r}")
        cfg = json.loads(as_str(f.attrs["model_config"]))
        if cfg.get("class_name") != want["class_name"]:
            problems.append(f"model_config class_name {cfg.get('class_name')!r}")
        by_name = {ld["config"]["name"]: ld for ld in cfg["config"]["layers"]}
        for layer, units in want.get("units", {}).items():
            got = by_name.get(layer, {}).get("config", {}).get("units")
            if got != units:
                problems.append(f"model_config: layer {layer} units {got!r}, want {units}")
        for key, attr in (("class_names", "zoo_class_names"), ("attrs", "zoo_attrs")):
            if want.get(key) is None:
                if attr in f.attrs:
                    problems.append(f"attribute {attr} present, none expected")
            elif attr not in f.attrs:
                problems.append(f"attribute {attr} missing")
            elif json.loads(as_str(f.attrs[attr])) != want[key]:
                problems.append(f"attribute {attr} is {as_str(f.attrs[attr])!r}")
        if "model_weights" not in f:
            problems.append("group model_weights is missing")
            print("\n".join(problems))
            return 1
        mw = f["model_weights"]
        if "layer_names" in f.attrs:
            problems.append("layer_names at the root (Keras would take the file for weights-only)")
        names = [as_str(n) for n in mw.attrs.get("layer_names", [])]
        if names != want["layers"]:
            problems.append(f"model_weights/layer_names {names}, want {want['layers']}")
        for key in ("backend", "keras_version"):
            if key not in mw.attrs:
                problems.append(f"model_weights has no '{key}'")
        for layer in names:
            g = mw[layer]
            wn = [as_str(n) for n in g.attrs["weight_names"]]
            exp = want["weights"].get(layer, [])
            if wn != [e[0] for e in exp]:
                problems.append(f"{layer}: weight_names {wn}, want {[e[0] for e in exp]}")
                continue
            for dn, shape in exp:
                ds = g[dn]
                if list(ds.shape) != shape or ds.dtype != np.dtype("<f4"):
                    problems.append(f"{layer}/{dn}: {ds.shape} {ds.dtype}, want {shape} float32")
        if "top_level_model_weights" not in mw:
            problems.append("model_weights/top_level_model_weights is missing")
    if problems:
        print("\n".join(problems))
        return 1
    print("OK")
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    if len(argv) != 2:
        print(__doc__)
        return 2
    write_keras2(argv[1])
    write_hostile(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
