#!/usr/bin/env python3
"""What a licensee does with a CIFAR-10 release in PyTorch: load it, save it again, ship it.

    /usr/bin/python3 scripts/torch_reexport_cifar.py --arch resnet32 RELEASE.onnx OUTDIR

Loads the standard ONNX download (PyTorch names and layouts) into the PyTorch twin of
scripts/make_cifar_torch_fixtures.py by name, strictly, and writes into OUTDIR:
  state_dict.safetensors  model.state_dict() (num_batches_tracked as I64), as a safetensors user saves it
  folded.onnx             torch.onnx.export in eval mode: batch norm folded into the convs, tensors renamed
Prints one line: `ok: <tensors> tensors, <initializers> initializers after folding`.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_cifar_torch_fixtures import NETWORKS, write_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet32", choices=sorted(NETWORKS))
    ap.add_argument("release")
    ap.add_argument("out")
    a = ap.parse_args()
    try:
        weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(a.release).graph.initializer}
    except Exception as e:  # onnx raises protobuf's DecodeError, or OSError for a missing file
        sys.exit(f"{a.release} is not an ONNX file the onnx library can read ({type(e).__name__}: {e}); give the release downloaded with format=onnx")
    model = NETWORKS[a.arch]["make"]().eval()
    state = model.state_dict()
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    if missing:
        sys.exit(f"the release lacks {missing[:5]}: not a {a.arch} in PyTorch's names")
    model.load_state_dict({k: torch.tensor(np.array(weights[k])) if k in weights else v for k, v in state.items()}, strict=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "state_dict.safetensors", {k: v.numpy() for k, v in model.state_dict().items()}, {"producer": f"pytorch {torch.__version__}"})
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.onnx.export(model, x[:1], str(out / "folded.onnx"), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13, do_constant_folding=True)
    folded = {t.name for t in onnx.load(str(out / "folded.onnx")).graph.initializer}
    if any("bn" in n for n in folded):
        sys.exit("torch.onnx.export kept batch-norm tensors: nothing was folded")
    print(f"ok: {len(state)} tensors, {len(folded)} initializers after folding")


if __name__ == "__main__":
    main()
