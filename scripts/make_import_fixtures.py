#!/usr/bin/env python3
"""PyTorch-made networks that are NOT in weightmark's registry, for the ONNX graph import (issue 12).

One command, from the repository root (Debian: apt-get install -y python3-torch python3-onnx):

    /usr/bin/python3 scripts/make_import_fixtures.py

Two small MNIST-shaped (1x28x28) networks with fixed-seed random weights (batch-norm statistics and
affine parameters randomised too, so they matter):

  resblock  conv 8@3x3 + BN + ReLU, a residual block (conv+BN+ReLU+conv+BN, add identity, ReLU),
            max pool 2, conv 16@3x3 stride 2 + BN + ReLU, global average pool, linear 10
  flathead  conv 6@5x5 + ReLU, max pool 2, conv 12@3x3, max pool 2, ReLU (after the pool), flatten,
            dropout 0.3, linear 32 + ReLU, linear 10
  avgpool   conv 4@3x3 pad 1 + BN + ReLU, average pool 2, conv 8@3x3 + ReLU, average pool 3 (12 -> 4),
            flatten, linear 10
  viewhead  conv 3@3x3 stride 2 + ReLU, x.view(x.size(0), -1) (exported as Shape, Gather, Unsqueeze,
            Concat, Reshape), linear 10

For each NAME it writes into test/fixtures/import/:
  NAME_train.onnx        torch.onnx.export in TRAINING mode without constant folding: batch norms and
                         dropouts stay, initializers carry the state_dict names (`conv1.weight`, ...)
  NAME_folded.onnx       torch.onnx.export in eval mode: batch norms folded into the convolutions
                         (initializers renamed `onnx::Conv_*`), dropouts gone
  NAME.pt                torch.save(state_dict) (num_batches_tracked included)
  NAME.safetensors       the same state_dict (float tensors F32, num_batches_tracked I64)
  NAME_reference.json    a few inputs (NCHW, flat) and PyTorch's eval-mode logits on them
"""
import json
import struct
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "import"


class ResBlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.block_conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.block_bn1 = nn.BatchNorm2d(8)
        self.block_conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.block_bn2 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.block_bn1(self.block_conv1(x)))
        y = self.block_bn2(self.block_conv2(y))
        x = torch.relu(x + y)
        x = torch.max_pool2d(x, 2)
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class FlatHeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 12, 3), nn.MaxPool2d(2), nn.ReLU())
        self.drop = nn.Dropout(0.3)
        self.fc1 = nn.Linear(12 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.drop(torch.flatten(self.features(x), 1))
        return self.fc2(torch.relu(self.fc1(x)))


class AvgPoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = nn.functional.avg_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = nn.functional.avg_pool2d(torch.relu(self.conv2(x)), 3)
        return self.fc(torch.flatten(x, 1))


class ViewHeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, stride=2)
        self.fc = nn.Linear(3 * 13 * 13, 10)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


def randomise_norms(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 1 + 0.3 * torch.randn(c, generator=gen)
            m.bias.data = 0.2 * torch.randn(c, generator=gen)
            m.running_mean.data = 0.3 * torch.randn(c, generator=gen)
            m.running_var.data = 0.5 + torch.rand(c, generator=gen)
            m.num_batches_tracked.fill_(17)


def write_safetensors(path, state):
    header, blobs, offset = {"__metadata__": {"made_by": "scripts/make_import_fixtures.py"}}, [], 0
    for name, t in state.items():
        is_int = t.dtype == torch.int64
        data = t.numpy().astype("<i8" if is_int else "<f4").tobytes()
        header[name] = {"dtype": "I64" if is_int else "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def export(model, path, training):
    x = torch.zeros(2, 1, 28, 28)
    mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
    model.train(training)
    torch.onnx.export(model, x, str(path), opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, training=mode,
                      do_constant_folding=not training)


def make(name, model, seed):
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.data = 0.3 * torch.randn(p.shape, generator=gen)
    randomise_norms(model, gen)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    export(model, OUT / f"{name}_train.onnx", training=True)
    # Tracing in training mode ran the forward pass, which moved the running statistics: the graph
    # must hold the state_dict as saved, so its initializers are set back from it by name.
    model.load_state_dict(state)
    graph = onnx.load(str(OUT / f"{name}_train.onnx"))
    for init in graph.graph.initializer:
        if init.name in state:
            init.CopyFrom(numpy_helper.from_array(state[init.name].numpy(), init.name))
    onnx.save(graph, str(OUT / f"{name}_train.onnx"))
    export(model, OUT / f"{name}_folded.onnx", training=False)
    model.load_state_dict(state)
    torch.save(model.state_dict(), OUT / f"{name}.pt")
    write_safetensors(OUT / f"{name}.safetensors", model.state_dict())
    model.eval()
    x = torch.rand(4, 1, 28, 28, generator=gen)
    with torch.no_grad():
        logits = model(x)
    (OUT / f"{name}_reference.json").write_text(json.dumps({
        "input_shape": list(x.shape), "input": [float(v) for v in x.numpy().ravel()],
        "logits": [float(v) for v in logits.numpy().ravel()], "torch": torch.__version__,
    }))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    make("resblock", ResBlockNet(), 1)
    make("flathead", FlatHeadNet(), 2)
    make("avgpool", AvgPoolNet(), 3)
    make("viewhead", ViewHeadNet(), 4)


if __name__ == "__main__":
    main()
