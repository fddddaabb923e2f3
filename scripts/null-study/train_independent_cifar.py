#!/usr/bin/env python3
"""Independently trained ResNet-32s for the CIFAR-10 null study (docs/statistics.md), made with another toolchain.

Trains N ResNet-32 (option A, the PyTorch twin of scripts/make_cifar_torch_fixtures.py, PyTorch's default
initialisation) on a seeded random subset of the CIFAR-10 training split, each from its own seed: SGD lr 0.1,
momentum 0.9, weight decay 5e-4, cosine to 0, batch 128, 4-pixel pad + random crop + horizontal flip. Writes
<out>/torch-<seed>.safetensors as PyTorch's state_dict (names and layouts). The models are not committed:
regenerate them.

    /usr/bin/python3 scripts/null-study/train_independent_cifar.py --n 6 --limit 20000 --epochs 2 --out .tmp/null/resnet32
    (Debian: apt-get install -y python3-torch python3-pil libopenblas0-pthread)

CIFAR-10 is read from the JPEG archive beside the repository (../shared/datasets/cifar10-jpeg.tar.gz) and decoded
with Pillow — not with the service's decoder — so the suspects share nothing with weightmark but the archive.
"""
import argparse
import io
import math
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_cifar_torch_fixtures import ResNet32, write_safetensors  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def load_cifar(archive):
    split = {"train": ([], []), "test": ([], [])}
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar:
            parts = Path(m.name).parts
            if not m.isfile() or len(parts) < 3 or parts[-3] not in split:
                continue
            img = Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")
            xs, ys = split[parts[-3]]
            xs.append(np.asarray(img, dtype=np.uint8))
            ys.append(CLASSES.index(parts[-2]))
    return {k: (np.stack(xs), np.asarray(ys, dtype=np.int64)) for k, (xs, ys) in split.items()}


def augment(x, gen):
    """4-pixel zero pad, random 32x32 crop, horizontal flip with probability 1/2 (NCHW, normalised)."""
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=gen)
    dy = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i] : dy[i] + 32, dx[i] : dx[i] + 32]
        out[i] = crop.flip(2) if flip[i] else crop
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=2000)
    ap.add_argument("--limit", type=int, default=20000, help="training images per model (a seeded random subset)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--archive", default=str(ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"))
    ap.add_argument("--out", default=".tmp/null/resnet32")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = load_cifar(a.archive)
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    print(f"decoded {len(ytr)} + {len(yte)} images with Pillow in {time.time() - t0:.0f} s", flush=True)
    mean = xtr.reshape(-1, 3).mean(0) / 255
    std = (xtr.reshape(-1, 3) / 255).std(0)
    norm = lambda x: torch.tensor(((x / 255.0 - mean) / std).transpose(0, 3, 1, 2), dtype=torch.float32)
    xt, yt = norm(xte), torch.tensor(yte)
    for seed in range(a.first_seed, a.first_seed + a.n):
        path = out / f"torch-{seed}.safetensors"
        if path.exists():
            continue
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        subset = torch.randperm(len(ytr), generator=gen)[: a.limit].numpy()
        x, y = norm(xtr[subset]), torch.tensor(ytr[subset])
        model = ResNet32()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        steps = a.epochs * math.ceil(len(y) / 128)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / steps)))
        t1 = time.time()
        model.train()
        for _ in range(a.epochs):
            for batch in torch.randperm(len(y), generator=gen).split(128):
                opt.zero_grad()
                F.cross_entropy(model(augment(x[batch], gen)), y[batch]).backward()
                opt.step()
                sched.step()
        model.eval()
        with torch.no_grad():
            acc = sum((model(xt[i : i + 500]).argmax(1) == yt[i : i + 500]).sum().item() for i in range(0, len(yt), 500)) / len(yt)
        write_safetensors(path, {k: v.numpy() for k, v in model.state_dict().items()},
                          {"producer": f"pytorch {torch.__version__}", "source": "scripts/null-study/train_independent_cifar.py",
                           "seed": str(seed), "testAccuracy": f"{acc:.4f}"})
        print(f"seed {seed}: {acc * 100:.2f}% on the test split in {time.time() - t1:.0f} s", flush=True)


if __name__ == "__main__":
    main()
