#!/usr/bin/env python3
"""PyTorch-made CIFAR-10 fixtures (ResNet-32, ALL-CNN-C), for the readers and the alignment of graph networks.

One command per network, from the repository root (Debian: apt-get install -y python3-torch python3-onnx libopenblas0-pthread):

    /usr/bin/python3 scripts/make_cifar_torch_fixtures.py [--arch resnet32|allcnnc] [--out test/fixtures/torch-cifar]

It trains a small watermarked network with weightmark (1 epoch on 500 CIFAR-10 images, seed 7: a
model that carries a key, not an accurate one) into OUT/ours (ResNet-32) or OUT/ours_allcnnc, exports
it as standard ONNX, then:

  1. builds the network in PyTorch with the same module paths (ResNet-32: stage1.block1.conv1, ...;
     option-A shortcut as F.pad(x[:, :, ::2, ::2]); ALL-CNN-C: conv1 ... conv9 with their dropouts;
     the twins of ../shared/anchors/torch_cifar.py, except that conv9 has no ReLU, as in our registry);
  2. loads our weights from that ONNX file by name (PyTorch's state_dict names and layouts);
  3. checks its eval-mode logits against onnxruntime-free reference: our engine's logits written by
     weightmark (max abs difference < 1e-4, else it fails);
  4. writes into OUT, for ResNet-32:
       torch_resnet32.safetensors  the state_dict as PyTorch holds it (num_batches_tracked as I64)
       torch_resnet32_folded.onnx  torch.onnx.export in eval mode: batch norm folded into the convs,
                                   tensors renamed onnx::Conv_*, what deployment tools ship
       torch_reference.json        inputs, PyTorch's logits, the comparison
     and for ALL-CNN-C (no batch norm to fold):
       torch_allcnnc.safetensors, torch_allcnnc.onnx (eval mode: the dropouts vanish), torch_allcnnc_reference.json
"""
import argparse
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

ROOT = Path(__file__).resolve().parent.parent


class Block(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.pad = o - i
        self.stride = stride

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + shortcut)


class Stage(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        for k in range(5):
            setattr(self, f"block{k + 1}", Block(i if k == 0 else o, o, stride if k == 0 else 1))

    def forward(self, x):
        for k in range(5):
            x = getattr(self, f"block{k + 1}")(x)
        return x


class ResNet32(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.stage1 = Stage(16, 16, 1)
        self.stage2 = Stage(16, 32, 2)
        self.stage3 = Stage(32, 64, 2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(F.relu(self.bn1(self.conv1(x))))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class AllCnnC(nn.Module):
    """Springenberg et al.'s model C as ../shared/anchors/torch_cifar.py builds it, with named convs."""

    def __init__(self):
        super().__init__()
        spec = [(3, 96, 3, 1), (96, 96, 3, 1), (96, 96, 3, 2), (96, 192, 3, 1), (192, 192, 3, 1), (192, 192, 3, 2),
                (192, 192, 3, 1), (192, 192, 1, 1), (192, 10, 1, 1)]
        for k, (i, o, size, stride) in enumerate(spec):
            setattr(self, f"conv{k + 1}", nn.Conv2d(i, o, size, stride, size // 2))
        self.drop_in = nn.Dropout(0.2)
        self.drop1 = nn.Dropout(0.5)
        self.drop2 = nn.Dropout(0.5)

    def forward(self, x):
        x = self.drop_in(x)
        for k in range(1, 10):
            x = getattr(self, f"conv{k}")(x)
            if k < 9:  # conv9's class maps stay raw logits, as in src/core/architectures.ts
                x = F.relu(x)
            if k in (3, 6):
                x = (self.drop1 if k == 3 else self.drop2)(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


NETWORKS = {
    "resnet32": {"make": ResNet32, "ours": "ours", "files": {"safetensors": "torch_resnet32.safetensors", "onnx": "torch_resnet32_folded.onnx", "reference": "torch_reference.json"}},
    "allcnnc": {"make": AllCnnC, "ours": "ours_allcnnc", "files": {"safetensors": "torch_allcnnc.safetensors", "onnx": "torch_allcnnc.onnx", "reference": "torch_allcnnc_reference.json"}},
}


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: 8-byte little-endian header length, JSON header (padded to 8), raw data."""
    dtypes = {np.dtype("float32"): ("F32", "<f4"), np.dtype("int64"): ("I64", "<i8")}
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, array in tensors.items():
        tag, little = dtypes[array.dtype]
        data = np.ascontiguousarray(array, dtype=little).tobytes()
        header[name] = {"dtype": tag, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def npx(*args):
    subprocess.run(["npx", "tsx", "src/cli/main.ts", *args], cwd=ROOT, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="resnet32", choices=sorted(NETWORKS))
    parser.add_argument("--out", default=str(ROOT / "test/fixtures/torch-cifar"))
    args = parser.parse_args()
    net = NETWORKS[args.arch]
    files = net["files"]
    out = Path(args.out)
    ours = out / net["ours"]
    exported = out / f"ours_{args.arch}.onnx"
    npx("train", "--arch", args.arch, "--dataset", "cifar10", "--strategy", "naive", "--epochs", "1", "--limit", "500",
        "--test-limit", "200", "--batch-size", "50", "--seed", "7", "--key-seed", f"torch-cifar-fixture-{args.arch}", "--out", str(ours))
    npx("export", "--model", str(ours), "--format", "onnx", "--out", str(exported))
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(exported)).graph.initializer}

    model = net["make"]().eval()
    state = model.state_dict()
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    if missing:
        sys.exit(f"our export lacks {missing[:5]}: the module paths differ")
    model.load_state_dict({k: torch.tensor(np.array(weights[k])) if k in weights else v for k, v in state.items()}, strict=True)

    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.tensor(x)).numpy()
    # Our side: the same inputs through weightmark's evaluation (NHWC in, logits out).
    (out / "inputs_nhwc.json").write_text(json.dumps({"shape": [4, 32, 32, 3], "values": x.transpose(0, 2, 3, 1).reshape(-1).tolist()}))
    subprocess.run(["npx", "tsx", "scripts/fixture_logits.ts", str(ours), str(out / "inputs_nhwc.json"), str(out / "ours_logits.json")], cwd=ROOT, check=True)
    ours_logits = np.asarray(json.loads((out / "ours_logits.json").read_text())["logits"], dtype=np.float32).reshape(4, 10)
    max_diff = float(np.abs(logits - ours_logits).max())
    print(f"PyTorch vs weightmark logits on 4 inputs: max |diff| = {max_diff:.3g}")
    if not max_diff < 1e-4:
        sys.exit(f"the twin or the layout conversion is wrong: logits differ by {max_diff}")

    write_safetensors(out / files["safetensors"], {k: v.numpy() for k, v in model.state_dict().items()},
                      {"producer": f"pytorch {torch.__version__}", "source": f"test/fixtures/torch-cifar/{net['ours']}"})
    torch.onnx.export(model, torch.tensor(x[:1]), str(out / files["onnx"]), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13, do_constant_folding=True)
    (out / files["reference"]).write_text(json.dumps({
        "producer": f"pytorch {torch.__version__}", "inputShapeNCHW": [4, 3, 32, 32],
        "inputs": x.reshape(-1).tolist(), "logits": logits.reshape(-1).tolist(), "maxDiffVsOurs": max_diff,
    }) + "\n")
    (out / "inputs_nhwc.json").unlink()
    (out / "ours_logits.json").unlink()
    exported.unlink()
    (ours / "anchor.safetensors").unlink()  # the weights from before the key: not needed by the tests
    for name in (files["safetensors"], files["onnx"], files["reference"]):
        print(f"wrote {out / name} ({(out / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
