#!/usr/bin/env python3
"""The committed CIFAR-10 training recipe run in PyTorch instead of weightmark: what accuracy the schedule gets.

    /usr/bin/python3 scripts/torch_train_cifar.py [--arch resnet32|allcnnc] [--epochs 30] [--lr 0.1]
        [--seed 1] [--threads 2] [--out docs/experiments/torch-train-resnet32]

(Debian: apt-get install -y python3-torch libopenblas0-pthread.) The question it answers: is a weightmark
model's accuracy the schedule's and the data's, or our engine's? Nothing of weightmark runs here. The PyTorch
twin (scripts/make_cifar_torch_fixtures.py) starts from PyTorch's default initialisation (the one
src/core/init.ts copies for resnet32; allcnnc asks us for He-normal, applied here too); the data are the same
JPEGs decoded with Pillow and normalised with their own training-set statistics, augmented with torchvision's
recipe written out (zero-pad 4 pixels, random 32x32 crop, horizontal flip); SGD with momentum 0.9 and weight
decay 5e-4 on every parameter, batch 128, every training image once per epoch in a fresh seeded order, and the
learning rate cosine-decayed per step to 0 over the run — the `weightmark train` command of
docs/architectures.md with no key. Test accuracy on all 10,000 test images after every epoch.

A checkpoint (.tmp/NAME.ckpt.pt: weights, optimizer, random state, history) is written after every epoch and
the run continues from it when started again with the same arguments. Writes OUT.json (the history).
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_cifar_torch_fixtures import NETWORKS  # noqa: E402
from outside_attack_cifar import Cifar, accuracy, decode_cifar  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="resnet32", choices=sorted(NETWORKS))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=None, help="default 0.1 (resnet32), 0.05 (allcnnc), as docs/architectures.md")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="default docs/experiments/torch-train-ARCH")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lr0 = args.lr if args.lr is not None else {"resnet32": 0.1, "allcnnc": 0.05}[args.arch]
    out = Path(args.out or f"docs/experiments/torch-train-{args.arch}")
    ckpt = ROOT / ".tmp" / f"{out.name}.ckpt.pt"
    ckpt.parent.mkdir(exist_ok=True)

    torch.manual_seed(args.seed)
    model = NETWORKS[args.arch]["make"]()
    if args.arch == "allcnnc":
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=lr0, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(args.seed)
    history, seconds, start = [], 0.0, 0
    if ckpt.exists():
        state = torch.load(ckpt)
        if state["args"] != vars(args):
            sys.exit(f"{ckpt} was written by another command ({state['args']}); remove it or use its arguments")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["torch"])
        history, seconds, start = state["history"], state["seconds"], state["epoch"]
        print(f"resuming after epoch {start}", flush=True)

    data = Cifar(*decode_cifar(ROOT / "../shared/datasets/cifar10-jpeg.tar.gz", Path("/tmp/outside-attack-cifar10.npz")))
    n = len(data.ytr)
    steps_per_epoch = math.ceil(n / 128)
    total = args.epochs * steps_per_epoch
    for epoch in range(start, args.epochs):
        t0 = time.time()
        model.train()
        right, seen, loss_sum = 0, 0, 0.0
        for i, (x, y) in enumerate(data.batches(n, gen)):
            step = epoch * steps_per_epoch + i
            for g in opt.param_groups:
                g["lr"] = 0.5 * lr0 * (1 + math.cos(math.pi * step / total))
            opt.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            right += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            loss_sum += loss.item() * len(y)
        seconds += time.time() - t0
        test = accuracy(model, data)
        history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "trainAccuracy": right / seen, "testAccuracy": test, "seconds": time.time() - t0})
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / seen:.4f}, train {100 * right / seen:.2f}%, test {100 * test:.2f}% ({time.time() - t0:.0f} s)", flush=True)
        torch.save({"args": vars(args), "model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(), "torch": torch.get_rng_state(),
                    "history": history, "seconds": seconds, "epoch": epoch + 1}, ckpt)
        result = {"arch": args.arch, "command": "/usr/bin/python3 scripts/torch_train_cifar.py " + " ".join(sys.argv[1:]), "torch": torch.__version__,
                  "threads": args.threads, "lr": lr0, "epochs": args.epochs, "done": epoch + 1, "seconds": seconds, "history": history}
        out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{out}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
