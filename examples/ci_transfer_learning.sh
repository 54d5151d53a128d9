#!/usr/bin/env bash
# usage: ci_transfer_learning.sh TRANSFER_LEARNING_BIN MAKE_BASE_WEIGHTS_BIN PYTHON WORKDIR
# The transfer-learning example at CI size, offline: a generated folder of
# two colour classes (reddish and bluish 32x32 PNGs with noise), a MobileNet
# no-top base with random weights standing in for ImageNet's, two epochs
# of batches of 10 (the last one smaller).
# It must finish, print val_accuracy=X.XXXX last and write a model file
# with the new head and the frozen base unchanged. (A random base's
# features are nearly constant, so the accuracy itself is not checked.)
# Exits 77 (skipped) when PYTHON lacks NumPy or Pillow.
set -uo pipefail

tl=$1 make_base=$2 python=$3 work=$4
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! "$python" -c 'import numpy, PIL' 2>/dev/null; then
  echo "skipped: $python cannot import numpy and PIL (Pillow)"
  exit 77
fi
mkdir -p "$work"
tmp=$(mktemp -d "$work/transfer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$python" - "$tmp/data" <<'PY' || fail "could not generate the image folder"
import os, sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(7)
for name, rgb in (("blue", (40, 60, 200)), ("red", (210, 50, 40))):
    os.makedirs(os.path.join(sys.argv[1], name))
    for i in range(15):
        img = np.array(rgb, float) + rng.normal(0, 25, (32, 32, 3))
        img = np.clip(img, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(sys.argv[1], name, "%02d.png" % i))
PY

"$make_base" mobilenet 32 32 "$tmp/base.h5" 3 || fail "make_base_weights failed"

"$tl" --model mobilenet --data "$tmp/data" --weights "$tmp/base.h5" --epochs 2 --batch-size 10 \
  --image-size 32,32 --threads 1 -o "$tmp/out.h5" >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out"
cat "$tmp/err" >&2
[ "$rc" -eq 0 ] || fail "transfer_learning exited $rc"
last=$(tail -n 1 "$tmp/out")
[[ $last =~ ^val_accuracy=[01]\.[0-9]{4}$ ]] || fail "last line is '$last', not val_accuracy=X.XXXX"
grep -q '^2 classes, 24 training and 6 validation images$' "$tmp/out" ||
  fail "expected 2 classes, 24 training and 6 validation images"
[ -s "$tmp/out.h5" ] || fail "no $tmp/out.h5 written"
echo "ok: $last, $(stat -c %s "$tmp/out.h5") bytes saved"

# The saved model: a `predictions` Dense(2, softmax) on 1024 pooled
# features, the class names, and a frozen base bit-identical to base.h5.
"$python" - "$tmp/base.h5" "$tmp/out.h5" <<'PY' || fail "the saved model is not as expected"
import json, sys
import h5py, numpy as np
def names(attrs, key):
    return [n.decode() if isinstance(n, bytes) else n for n in attrs[key]]
base, out = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
cfg = json.loads(out.attrs["model_config"])
head = [l for l in cfg["config"]["layers"] if l["config"]["name"] == "predictions"]
assert len(head) == 1 and head[0]["class_name"] == "Dense", "no Dense 'predictions' layer"
assert head[0]["config"]["units"] == 2 and head[0]["config"]["activation"] == "softmax"
assert json.loads(out.attrs["zoo_class_names"]) == ["blue", "red"]
mw = out["model_weights"]
kernel = np.array(mw["predictions"]["predictions/kernel:0"])
assert kernel.shape == (1024, 2), kernel.shape
compared = 0
for layer in names(base.attrs, "layer_names"):
    for w in names(base[layer].attrs, "weight_names"):
        a, b = np.array(base[layer][w]), np.array(mw[layer][w])
        assert a.shape == b.shape and np.array_equal(a, b), "frozen %s changed" % w
        compared += 1
assert compared > 100, compared
print("ok: predictions (1024, 2) softmax, classes blue/red, %d frozen base weights "
      "bit-identical" % compared)
PY

# Bad input: a folder with one class is refused, and nothing is written.
rm -rf "$tmp/data/red"
"$tl" --model mobilenet --data "$tmp/data" --weights "$tmp/base.h5" --epochs 1 \
  --image-size 32,32 -o "$tmp/one.h5" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -ne 0 ] || fail "a one-class folder was accepted"
[ ! -e "$tmp/one.h5" ] || fail "a failed run left $tmp/one.h5"
echo "ok: one class refused (exit $rc): $(head -n 1 "$tmp/err")"
