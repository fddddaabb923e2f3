#!/usr/bin/env python3
"""PyTorch .pt checkpoints written by torch.save itself, for weightmark's restricted unpickler (src/formats/pt.ts).

One command, from the repository root (Debian: apt-get install -y python3-torch libopenblas0-pthread):

    /usr/bin/python3 scripts/make_pt_fixtures.py

It loads the LeNet5 state_dict of test/fixtures/torch/torch_lenet5.safetensors (PyTorch names and layouts,
made by scripts/make_torch_fixtures.py) into the same PyTorch LeNet5, so the values in every file below are
known, and writes into test/fixtures/pt/:

  lenet5.pt             torch.save(model.state_dict())                      float32, the common case
  lenet5_checkpoint.pt  torch.save({"state_dict": ..., "epoch": 4, "best_acc": 0.99, "arch": "lenet5"})
  lenet5_f16.pt         torch.save({k: v.half()})                           float16
  views.pt              small tensors that exercise the tensor rebuild: a transposed (non-contiguous)
                        view, a view at a storage offset, two views of one storage, a Parameter, bfloat16,
                        int8, int64 (BatchNorm's num_batches_tracked), nested dicts
  whole_model.pt        torch.save(nn.Linear(2, 2)): a module, not a state_dict (its pickle names its class)
  malicious.pt          a zip checkpoint whose pickle calls os.system('touch /tmp/weightmark-pwned') when
                        unpickled by plain torch.load (weights_only=False). Never load it with torch.
  legacy.pt             torch.save(..., _use_new_zipfile_serialization=False): a bare pickle, not a zip
"""
import collections
import os
from pathlib import Path

import torch
from torch import nn

from make_torch_fixtures import LeNet5, read_safetensors  # the same LeNet5 twin, so the same state_dict keys

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test/fixtures/pt"


class Pwn:
    """What a hostile upload looks like: unpickling it runs a shell command."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/weightmark-pwned",))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    model = LeNet5()
    model.load_state_dict({k: torch.tensor(v.copy()) for k, v in read_safetensors(ROOT / "test/fixtures/torch/torch_lenet5.safetensors").items()}, strict=True)
    sd = model.state_dict()

    torch.save(sd, OUT / "lenet5.pt")
    torch.save({"state_dict": sd, "epoch": 4, "best_acc": 0.99, "arch": "lenet5"}, OUT / "lenet5_checkpoint.pt")
    torch.save(collections.OrderedDict((k, v.half()) for k, v in sd.items()), OUT / "lenet5_f16.pt")

    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)  # values 0..11, so the expectations are plain
    torch.save({
        "transposed": base.t(),                       # size [4, 3], stride [1, 4]
        "offset": base[1:],                           # size [2, 4], storage offset 4, same storage
        "param": nn.Parameter(base.clone()),          # _rebuild_parameter
        "bf16": base.to(torch.bfloat16),
        "int8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "bn": {"num_batches_tracked": torch.tensor(7), "running_mean": torch.tensor([0.5, -0.25])},
    }, OUT / "views.pt")

    torch.save(nn.Linear(2, 2), OUT / "whole_model.pt")
    torch.save({"conv1.weight": torch.zeros(2), "payload": Pwn()}, OUT / "malicious.pt")
    torch.save({"w": torch.arange(3, dtype=torch.float32)}, OUT / "legacy.pt", _use_new_zipfile_serialization=False)

    for f in sorted(OUT.glob("*.pt")):
        print(f"wrote {f.relative_to(ROOT)} ({f.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
