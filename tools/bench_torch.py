#!/usr/bin/python3
"""bench_torch: PyTorch peer for `zoo bench`, measured in the same run.

  bench_torch.py --model NAME [--batch N] [--threads T] [--iters K]
                 [--size H,W] [--zoo PATH] [--config FILE] [--no-zoo]
                 [--eager] [--train [--classes C]] [--json]

Gets MODEL's Keras config from `zoo summary NAME --json-config` (with
`--no-top --input-shape H,W,3` when --size is given, as `zoo bench` does),
builds it with tools/keras_torch.py on seeded random weights, freezes it
with TorchScript (torch.jit.trace + torch.jit.freeze, channels_last memory,
torch.set_num_threads(T), inference_mode) and times the forward pass of a
random batch: median and minimum milliseconds per batch over K runs after
warm-up. Then runs `zoo bench --json` with the same model, batch, threads,
iterations and size, and prints both and the ratio zoo / torch (below 1:
zoo is faster). --json prints one JSON object instead.

--train times a fine-tuning step on both sides instead (`zoo bench --train`):
the base without its top and with global average pooling, frozen (BN in
inference mode), a new softmax layer of C classes, sparse categorical
cross-entropy and one SGD update per batch. The torch peer runs the frozen
base the fastest way torch offers for a frozen network (the TorchScript
module above, or eager with --eager) and trains an nn.Linear head with
autograd and torch.optim.SGD: what a PyTorch user would write.

Threads: --threads, else $ZOO_NUM_THREADS, else the CPUs this process may
use; the same number is passed to zoo. Warm-up: zoo bench does one run;
the frozen TorchScript module gets two (its profiling executor optimises
on the second call), neither counted.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keras_torch  # noqa: E402


def find_zoo(explicit):
    """The zoo binary: --zoo, $ZOO_BIN, `zoo` on PATH, then the usual
    build trees next to this file."""
    if explicit:
        return explicit
    env = os.environ.get("ZOO_BIN")
    if env:
        return env
    on_path = shutil.which("zoo")
    if on_path:
        return on_path
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for sub in ("build", "build-release", "build-debug"):
        for rel in ("zoo", "tools/zoo"):
            p = os.path.join(root, sub, rel)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return p
    return None


def default_threads():
    env = os.environ.get("ZOO_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def zoo_config(zoo, model, size, train=False):
    cmd = [zoo, "summary", model]
    if train:
        cmd += ["--no-top", "--pooling", "avg"]
        if size:
            cmd += ["--input-shape", f"{size[0]},{size[1]},3"]
    elif size:
        cmd += ["--no-top", "--input-shape", f"{size[0]},{size[1]},3"]
    cmd.append("--json-config")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench_torch: `{' '.join(cmd)}` failed ({r.returncode}): "
                         f"{r.stderr.strip() or r.stdout.strip()}\n"
                         "(pass --config FILE to give the model config directly)")
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise SystemExit(f"bench_torch: `{' '.join(cmd)}` did not print a JSON config: {e}")


def zoo_bench(zoo, a, threads):
    cmd = [zoo, "bench", "--model", a.model, "--batch", str(a.batch), "--threads",
           str(threads), "--iters", str(a.iters), "--json"]
    if a.size:
        cmd += ["--size", f"{a.size[0]},{a.size[1]}"]
    if a.train:
        cmd += ["--train", "--classes", str(a.classes)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench_torch: `{' '.join(cmd)}` failed ({r.returncode}): "
                         f"{r.stderr.strip()}")
    for line in reversed(r.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"bench_torch: `{' '.join(cmd)}` printed no JSON line:\n{r.stdout}")


def torch_train_bench(config, batch, threads, iters, classes, eager=False, seed=1):
    """One fine-tuning step per batch: frozen base forward, head trained."""
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = keras_torch.build_model(config, None, channels_last=True, seed=seed)
    shape = model.graph.input_shape(model.graph.inputs[0][0])
    rng = np.random.default_rng(7)
    x = torch.from_numpy(
        rng.uniform(-127.5, 127.5, size=[batch] + shape).astype(np.float32))
    y = torch.arange(batch) % classes
    with torch.inference_mode():
        feats = model(x)
    head = torch.nn.Linear(feats.shape[-1], classes)
    opt = torch.optim.SGD(head.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()  # softmax + mean NLL, as Keras
    if eager:
        base, mode = model, "eager base, channels_last"
    else:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base = torch.jit.freeze(torch.jit.trace(model, (x,), check_trace=False).eval())
        mode = "TorchScript frozen base + eager nn.Linear head, SGD"

    def step():
        with torch.inference_mode():
            f = base(x)
        opt.zero_grad()
        loss = loss_fn(head(f.clone()), y)
        loss.backward()
        opt.step()
        return loss

    build_s = time.perf_counter() - t0
    for _ in range(1 if eager else 2):
        loss = step()
    ms = []
    for _ in range(iters):
        t = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t) * 1e3)
    ms.sort()
    median = float(np.median(ms))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"median_ms": round(median, 3), "min_ms": round(ms[0], 3),
            "img_per_s": round(batch * 1000.0 / median, 2), "peak_rss_mb": round(rss_mb, 1),
            "build_s": round(build_s, 2), "mode": mode, "torch": torch.__version__,
            "output_finite": bool(torch.isfinite(loss)),
            "input_shape": [batch] + shape}


def torch_bench(config, batch, threads, iters, eager=False, seed=1):
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = keras_torch.build_model(config, None, channels_last=True, seed=seed)
    g = model.graph
    if len(g.inputs) != 1:
        raise SystemExit("bench_torch: only single-input models are benchmarked")
    shape = g.input_shape(g.inputs[0][0])
    if shape is None or any(d is None for d in shape):
        raise SystemExit(f"bench_torch: the model's input shape {shape} is not fixed")
    rng = np.random.default_rng(7)
    x = torch.from_numpy(
        rng.uniform(-127.5, 127.5, size=[batch] + shape).astype(np.float32))
    with torch.inference_mode():
        if eager:
            fn, mode = model, "eager, channels_last"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TracerWarning: shapes are fixed here
                traced = torch.jit.trace(model, (x,), check_trace=False)
                fn = torch.jit.freeze(traced.eval())
            mode = "TorchScript trace+freeze, channels_last"
        build_s = time.perf_counter() - t0
        for _ in range(1 if eager else 2):
            y = fn(x)
        finite = bool(torch.isfinite(y).all())
        ms = []
        for _ in range(iters):
            t = time.perf_counter()
            fn(x)
            ms.append((time.perf_counter() - t) * 1e3)
    ms.sort()
    median = float(np.median(ms))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"median_ms": round(median, 3), "min_ms": round(ms[0], 3),
            "img_per_s": round(batch * 1000.0 / median, 2), "peak_rss_mb": round(rss_mb, 1),
            "build_s": round(build_s, 2), "mode": mode, "torch": torch.__version__,
            "output_finite": finite,
            "input_shape": [batch] + shape}


def parse_size(s):
    try:
        h, w = (int(v) for v in s.split(","))
        if h > 0 and w > 0:
            return (h, w)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"--size wants H,W (e.g. 160,160), got '{s}'")


def positive(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {s}")
    return v


# zoo's command keeps large blocks on the heap (mallopt in tools/zoo.c) so
# a batch's activations are reused instead of faulted in afresh; glibc reads
# the same settings from the environment at start-up, so this process runs
# torch with them too and neither side pays page faults the other does not.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def same_malloc_as_zoo():
    if all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()):
        return
    os.environ.update(MALLOC_ENV)
    os.execv(sys.executable, [sys.executable] + sys.argv)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="PyTorch peer for `zoo bench`: the same model, batch, threads and "
                    "iterations, timed in the same run; prints zoo / torch.")
    p.add_argument("--model", required=True, help="registry name (zoo list)")
    p.add_argument("--batch", type=positive, default=1, help="images per batch (default 1)")
    p.add_argument("--threads", type=positive, default=None,
                   help="threads for both (default $ZOO_NUM_THREADS, else every CPU)")
    p.add_argument("--iters", type=positive, default=10, help="timed runs (default 10)")
    p.add_argument("--size", type=parse_size, default=None,
                   help="input H,W, without the classifier top (as zoo bench --size)")
    p.add_argument("--zoo", help="zoo binary (default $ZOO_BIN, PATH, ./build)")
    p.add_argument("--config", help="Keras model config JSON instead of asking zoo summary")
    p.add_argument("--no-zoo", action="store_true", help="time torch only")
    p.add_argument("--eager", action="store_true", help="time the eager module, not TorchScript")
    p.add_argument("--train", action="store_true",
                   help="time a fine-tuning step (frozen base, new softmax layer, SGD)")
    p.add_argument("--classes", type=positive, default=10,
                   help="classes of the new layer with --train (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = p.parse_args(argv)

    if a.train and not a.size:
        p.error("--train needs --size H,W (the model's input size, e.g. 224,224)")
    threads = a.threads or default_threads()
    zoo = None
    if not (a.no_zoo and a.config):
        zoo = find_zoo(a.zoo)
        if not zoo:
            p.error("no zoo binary found: pass --zoo PATH or set ZOO_BIN "
                    "(or --no-zoo with --config)")
    config = (keras_torch.load_config(a.config) if a.config
              else zoo_config(zoo, a.model, a.size, a.train))

    # zoo first, in its own process, so the two never share the cores.
    zres = None if a.no_zoo else zoo_bench(zoo, a, threads)
    if a.train:
        tres = torch_train_bench(config, a.batch, threads, a.iters, a.classes, eager=a.eager)
    else:
        tres = torch_bench(config, a.batch, threads, a.iters, eager=a.eager)

    out = {"model": a.model, "mode": "train" if a.train else "predict", "batch": a.batch, "threads": threads, "iters": a.iters,
           "size": list(a.size) if a.size else None, "torch": tres, "zoo": zres}
    if zres:
        out["ratio_median"] = round(zres["median_ms"] / tres["median_ms"], 3)
        out["ratio_min"] = round(zres["min_ms"] / tres["min_ms"], 3)
    if a.json:
        print(json.dumps(out))
        return 0
    h, w = tres["input_shape"][1:3]
    what = "fine-tuning step" if a.train else "forward"
    print(f"{a.model}  {what}  batch {a.batch}  threads {threads}  {h}x{w}  iters {a.iters}")
    if zres:
        print(f"  zoo    median {zres['median_ms']:9.2f} ms  min {zres['min_ms']:9.2f} ms  "
              f"{zres['img_per_s']:8.1f} img/s  peak RSS {zres.get('peak_rss_mb', 0):.1f} MB")
    print(f"  torch  median {tres['median_ms']:9.2f} ms  min {tres['min_ms']:9.2f} ms  "
          f"{tres['img_per_s']:8.1f} img/s  peak RSS {tres['peak_rss_mb']:.1f} MB  "
          f"({tres['mode']}, torch {tres['torch']}, built in {tres['build_s']:.1f} s)")
    if zres:
        print(f"  zoo / torch: median {out['ratio_median']:.2f}x  min {out['ratio_min']:.2f}x"
              "  (< 1: zoo faster)")
    return 0


if __name__ == "__main__":
    same_malloc_as_zoo()
    sys.exit(main())
