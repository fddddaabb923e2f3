#!/usr/bin/env python3
"""Loads an imported network written back by weightmark into its PyTorch class, strictly.

    /usr/bin/python3 scripts/check_import_writeback.py {resblock|flathead|avgpool|viewhead} MODEL.safetensors MODEL.pt INPUT.json

Both files must load with model.load_state_dict(..., strict=True): the safetensors through a reader of
its own (F32 and I64, as safetensors.torch.load_file returns them), the .pt through
torch.load(weights_only=True); both must give the same tensors. Prints the eval-mode logits on the
inputs of INPUT.json (a flat NCHW list under "input") as JSON. test/onnx-import-writeback.test.ts runs it.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch

from make_import_fixtures import AvgPoolNet, FlatHeadNet, ResBlockNet, ViewHeadNet

DTYPES = {"F32": np.float32, "I64": np.int64}


def load_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        start, end = e["data_offsets"]
        array = np.frombuffer(raw[8 + n + start : 8 + n + end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


def main():
    net, safetensors, pt, inputs = sys.argv[1:5]
    model = {"resblock": ResBlockNet, "flathead": FlatHeadNet, "avgpool": AvgPoolNet, "viewhead": ViewHeadNet}[net]()
    from_safetensors = load_safetensors(safetensors)
    from_pt = torch.load(pt, weights_only=True)
    if sorted(from_safetensors) != sorted(from_pt) or any(not torch.equal(from_safetensors[k], from_pt[k]) for k in from_pt):
        sys.exit("the .pt and the safetensors hold different tensors")
    model.load_state_dict(from_pt, strict=True)
    model.load_state_dict(from_safetensors, strict=True)
    model.eval()
    x = torch.tensor(json.loads(Path(inputs).read_text())["input"], dtype=torch.float32).reshape(-1, 1, 28, 28)
    with torch.no_grad():
        print(json.dumps([float(v) for v in model(x).numpy().ravel()]))


if __name__ == "__main__":
    main()
