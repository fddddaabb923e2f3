#!/usr/bin/env python3
"""Checks a .pt written by weightmark (`weightmark export --format pt`) in PyTorch itself.

    /usr/bin/python3 scripts/check_pt_export.py MODEL.pt REFERENCE.safetensors {lenet5|resnet32}

torch.load(weights_only=True) must read it, the PyTorch twin of the architecture must take it with
load_state_dict(strict=True), and every float tensor must equal REFERENCE (a state_dict PyTorch made from
the same weights, e.g. test/fixtures/torch/torch_lenet5.safetensors) bit for bit. Prints `ok: N tensors`;
exits non-zero saying what differs otherwise. test/formats-pt.test.ts runs it.
"""
import sys

import numpy as np
import torch

from make_torch_fixtures import LeNet5, read_safetensors


def twin(arch):
    if arch == "lenet5":
        return LeNet5()
    if arch == "resnet32":
        from make_cifar_torch_fixtures import ResNet32  # imports onnx: only when asked for
        return ResNet32()
    sys.exit(f"unknown architecture {arch!r}: lenet5 or resnet32")


def main():
    path, reference, arch = sys.argv[1:4]
    state = torch.load(path, weights_only=True)
    twin(arch).load_state_dict(state, strict=True)
    want = read_safetensors(__import__("pathlib").Path(reference))
    floats = [k for k, v in state.items() if v.is_floating_point()]
    bad = [k for k in floats if k not in want or not np.array_equal(state[k].numpy().view(np.uint32), want[k].astype(np.float32).view(np.uint32))]
    if bad or len(floats) != len(want):
        sys.exit(f"differs from {reference}: {bad[:5]} ({len(floats)} float tensors, {len(want)} in the reference)")
    print(f"ok: {len(floats)} tensors")


if __name__ == "__main__":
    main()
