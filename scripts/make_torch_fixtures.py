#!/usr/bin/env python3
"""Real ONNX and safetensors fixtures from another toolchain (PyTorch), for weightmark's readers.

One command, from the repository root (Debian: apt-get install -y python3-torch libopenblas0-pthread):

    /usr/bin/python3 scripts/make_torch_fixtures.py [--params models/lenet5-watermarked.safetensors]

It runs `npx tsx scripts/make_fixture_input.ts` first (skip with --no-input to reuse its outputs),
which writes a LeNet5 param set in OUR layout (conv kernels HWIO, dense kernels [in, out], flatten in
HWC order; names conv1/kernel ...) and our logits on a few MNIST test images. Then this script:

  1. rebuilds LeNet5 in PyTorch (nn.Conv2d / nn.Linear, NCHW, flatten in CHW order);
  2. loads the param set, converting HWIO -> OIHW, [in, out] -> [out, in], and reordering fc1's input
     rows from HWC to CHW;
  3. checks its logits against ours (max abs difference < 1e-4, else it fails);
  4. writes, into test/fixtures/torch/:
       torch_lenet5.onnx         torch.onnx.export, opset 13, input 'input' [N,1,28,28] NCHW
       torch_lenet5.safetensors  the PyTorch state_dict (PyTorch names and layouts), written by hand
       torch_lenet5.npz          the same state_dict through np.savez_compressed
       torch_reference.json      PyTorch's logits on the same images, and the comparison
"""
import argparse
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from torch_mnist import ROOT, LeNet5
SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] not in SAFETENSORS_DTYPES:
            continue  # the float tensors only (a state_dict's num_batches_tracked is I64)
        start, end = entry["data_offsets"]
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        out[name] = np.frombuffer(raw[base + start : base + end], dtype=dtype).reshape(entry["shape"]).astype(np.float32)
    return out


def write_safetensors(path, tensors, metadata):
    """8-byte little-endian header length, JSON header, raw little-endian bytes (header padded to 8)."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def to_torch_layout(ours):
    """Our canonical LeNet5 tensors -> PyTorch state_dict arrays (the known layout conversion)."""
    fc1 = ours["fc1/kernel"]  # [800, 500], rows in HWC order of the [4, 4, 50] activation
    fc1_chw = fc1.reshape(4, 4, 50, 500).transpose(2, 0, 1, 3).reshape(800, 500)
    return {
        "conv1.weight": ours["conv1/kernel"].transpose(3, 2, 0, 1),  # HWIO -> OIHW
        "conv1.bias": ours["conv1/bias"],
        "conv2.weight": ours["conv2/kernel"].transpose(3, 2, 0, 1),
        "conv2.bias": ours["conv2/bias"],
        "fc1.weight": fc1_chw.T,  # [in, out] -> [out, in]
        "fc1.bias": ours["fc1/bias"],
        "fc2.weight": ours["fc2/kernel"].T,
        "fc2.bias": ours["fc2/bias"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", help="LeNet5 param set in our layout (any format weightmark reads)")
    parser.add_argument("--seed", default="20240607", help="seed of the random param set when --params is absent")
    parser.add_argument("--out", default=str(ROOT / "test/fixtures/torch"))
    parser.add_argument("--no-input", action="store_true", help="reuse input_lenet5.safetensors and ours_logits.json")
    args = parser.parse_args()
    out = Path(args.out)

    if not args.no_input:
        cmd = ["npx", "tsx", "scripts/make_fixture_input.ts", "--out", str(out), "--seed", args.seed]
        if args.params:
            cmd += ["--params", args.params]
        subprocess.run(cmd, cwd=ROOT, check=True)

    ours = read_safetensors(out / "input_lenet5.safetensors")
    reference = json.loads((out / "ours_logits.json").read_text())
    n = reference["inputShape"][0]
    # Our inputs are NHWC with C = 1, so the same values are already NCHW [n, 1, 28, 28].
    x = torch.tensor(np.asarray(reference["inputs"], dtype=np.float32).reshape(n, 1, 28, 28))
    ours_logits = np.asarray(reference["logits"], dtype=np.float32).reshape(n, 10)

    torch.manual_seed(0)
    model = LeNet5().eval()
    state = {k: torch.tensor(np.ascontiguousarray(v)) for k, v in to_torch_layout(ours).items()}
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        logits = model(x).numpy()
    max_diff = float(np.abs(logits - ours_logits).max())
    print(f"PyTorch vs weightmark logits on {n} images: max |diff| = {max_diff:.3g}")
    if not max_diff < 1e-4:
        sys.exit(f"layout conversion is wrong: logits differ by {max_diff}")

    torch.onnx.export(
        model, x[:1], str(out / "torch_lenet5.onnx"), input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13, do_constant_folding=True,
    )
    metadata = {"source": reference["source"], "producer": f"pytorch {torch.__version__}", "layout": "pytorch: OIHW, [out,in], flatten CHW"}
    write_safetensors(out / "torch_lenet5.safetensors", {k: v.numpy() for k, v in model.state_dict().items()}, metadata)
    # What a NumPy user would ship: np.savez of the state dict (deflated, so the zip reader's inflate path is exercised).
    np.savez_compressed(out / "torch_lenet5.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    (out / "torch_reference.json").write_text(json.dumps({
        "source": reference["source"],
        "producer": f"pytorch {torch.__version__}",
        "inputShapeNCHW": [n, 1, 28, 28],
        "logits": [float(v) for v in logits.reshape(-1)],
        "maxDiffVsOurs": max_diff,
    }) + "\n")
    for name in ("torch_lenet5.onnx", "torch_lenet5.safetensors", "torch_reference.json"):
        print(f"wrote {out / name} ({(out / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
