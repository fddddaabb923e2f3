#!/usr/bin/env python3
"""A committed CIFAR-10 model attacked from outside: PyTorch's own optimisers, pruning and quantizers.

    /usr/bin/python3 scripts/outside_attack_cifar.py [--arch resnet32|allcnnc] [--model models/resnet32]
        [--per-epoch 10000] [--threads 1] [--out docs/experiments/outside-attack-resnet32]

(Debian: apt-get install -y python3-torch python3-onnx libopenblas0-pthread.) What an attacker who received
the release would do, with none of weightmark's attack code: the model's standard ONNX export is loaded
by name into the PyTorch twin (scripts/make_cifar_torch_fixtures.py, checked there against our logits),
CIFAR-10 is decoded from ../shared/datasets/cifar10-jpeg.tar.gz with Pillow and normalised with its own
training-set statistics, each attack runs in PyTorch, and the attacked network is shipped as deployment
tools ship it — torch.onnx.export in eval mode, batch norm folded into the convolutions, tensors renamed.
Only the last step is ours: `weightmark extract` on that file with the model's key. Accuracy is PyTorch's
on all 10,000 test images.

Training attacks use torchvision's recipe written out (zero-pad 4, random 32x32 crop, horizontal flip,
batch 128) on the first --per-epoch images of a fresh random order each epoch, seeded.

Writes OUT.json (every number) and OUT.md (the table); work files go to a temporary folder.
"""
import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image
from torch import nn
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver
from torch.nn.utils import prune

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_cifar_torch_fixtures import NETWORKS  # noqa: E402  (the twins, checked against our logits there)

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def decode_cifar(archive: Path, cache: Path):
    """(train x, train y, test x, test y) as uint8 NCHW / int64, decoded once with Pillow into `cache`."""
    if cache.exists():
        d = np.load(cache)
        return d["xtr"], d["ytr"], d["xte"], d["yte"]
    splits = {"train": ([], []), "test": ([], [])}
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar:
            parts = m.name.split("/")
            if not m.isfile() or len(parts) != 3 or not parts[2].endswith(".jpg"):
                continue
            img = np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB"), dtype=np.uint8)
            xs, ys = splits[parts[0]]
            xs.append(img.transpose(2, 0, 1))
            ys.append(CLASSES.index(parts[1]))
    out = [np.stack(splits[s][k]) if k == 0 else np.asarray(splits[s][k], dtype=np.int64) for s in ("train", "test") for k in (0, 1)]
    np.savez(cache, xtr=out[0], ytr=out[1], xte=out[2], yte=out[3])
    return out


class Cifar:
    def __init__(self, xtr, ytr, xte, yte):
        self.xtr, self.ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
        self.xte, self.yte = torch.from_numpy(xte), torch.from_numpy(yte)
        pixels = self.xtr.double() / 255
        self.mean = pixels.mean(dim=(0, 2, 3)).float().view(1, 3, 1, 1)
        self.std = pixels.std(dim=(0, 2, 3), unbiased=False).float().view(1, 3, 1, 1)

    def norm(self, x):
        return (x.float() / 255 - self.mean) / self.std

    def batches(self, per_epoch, gen, batch=128):
        """One epoch: the first per_epoch images of a random order, augmented in pixel space (zero padding)."""
        order = torch.randperm(len(self.ytr), generator=gen)[:per_epoch]
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x = F.pad(self.xtr[idx], (4, 4, 4, 4))
            dx, dy = torch.randint(0, 9, (2, len(idx)), generator=gen)
            flip = torch.rand(len(idx), generator=gen) < 0.5
            crops = [x[k, :, dy[k]:dy[k] + 32, dx[k]:dx[k] + 32] for k in range(len(idx))]
            crops = [c.flip(2) if f else c for c, f in zip(crops, flip)]
            yield self.norm(torch.stack(crops)), self.ytr[idx]


def accuracy(model, data):
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(data.yte), 500):
            right += (model(data.norm(data.xte[i:i + 500])).argmax(1) == data.yte[i:i + 500]).sum().item()
    return right / len(data.yte)


def train(model, data, opt, epochs, per_epoch, gen, frozen_features=False):
    for _ in range(epochs):
        model.train()
        if frozen_features:  # transfer learning as usually written: the frozen part stays in eval mode
            for m in model.modules():
                if isinstance(m, (nn.BatchNorm2d, nn.Dropout)):
                    m.eval()
        for x, y in data.batches(per_epoch, gen):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()


def sgd(model, lr):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)


def weights_of(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def global_prune(model, amount):
    prune.global_unstructured([(m, "weight") for m in weights_of(model)], pruning_method=prune.L1Unstructured, amount=amount)
    for m in weights_of(model):
        prune.remove(m, "weight")


def fake_quantize(model, bits, per_channel):
    """torch's own fake quantizer (min-max observer, affine, 2^bits levels) on every conv/linear weight."""
    with torch.no_grad():
        for m in weights_of(model):
            w = m.weight
            if per_channel:
                obs = PerChannelMinMaxObserver(ch_axis=0, quant_min=0, quant_max=2 ** bits - 1, dtype=torch.quint8, qscheme=torch.per_channel_affine)
                obs(w)
                scale, zero = obs.calculate_qparams()
                m.weight.copy_(torch.fake_quantize_per_channel_affine(w, scale.float(), zero.int(), 0, 0, 2 ** bits - 1))
            else:
                obs = MinMaxObserver(quant_min=0, quant_max=2 ** bits - 1, dtype=torch.quint8, qscheme=torch.per_tensor_affine)
                obs(w)
                scale, zero = obs.calculate_qparams()
                m.weight.copy_(torch.fake_quantize_per_tensor_affine(w, float(scale), int(zero), 0, 2 ** bits - 1))


def head_retrain(model, data, per_epoch, gen):
    """The classifier re-initialised (PyTorch's default init) and trained alone, features frozen."""
    head = model.fc if hasattr(model, "fc") else model.conv9
    head.reset_parameters()
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    opt = torch.optim.SGD(head.parameters(), lr=0.01, momentum=0.9)
    train(model, data, opt, 1, per_epoch, gen, frozen_features=True)
    for p in model.parameters():
        p.requires_grad_(True)


def attacks(args):
    """(name, what was done, function(model, data, gen))."""
    n = args.per_epoch
    return [
        ("none", "the release as received, exported again by PyTorch", lambda m, d, g: None),
        ("sgd-0.01-1", "SGD lr 0.01, momentum 0.9, wd 5e-4, 1 epoch", lambda m, d, g: train(m, d, sgd(m, 0.01), 1, n, g)),
        # Continues the 1-epoch model and its data order when that ran just before (a fresh optimizer, as weightmark's sweeps).
        ("sgd-0.01-3", "the same, 3 epochs in all", lambda m, d, g, done=0: train(m, d, sgd(m, 0.01), 3 - done, n, g)),
        ("sgd-0.1-1", "SGD lr 0.1, momentum 0.9, wd 5e-4, 1 epoch", lambda m, d, g: train(m, d, sgd(m, 0.1), 1, n, g)),
        ("adam-1e-3-1", "Adam lr 1e-3, 1 epoch", lambda m, d, g: train(m, d, torch.optim.Adam(m.parameters(), lr=1e-3), 1, n, g)),
        ("prune-50", "torch.nn.utils.prune global L1, 50% of conv/linear weights", lambda m, d, g: global_prune(m, 0.5)),
        ("prune-80", "the same, 80%", lambda m, d, g: global_prune(m, 0.8)),
        ("quant-4-tensor", "torch fake quantization, 4 bits per tensor (MinMaxObserver)", lambda m, d, g: fake_quantize(m, 4, False)),
        ("quant-4-channel", "torch fake quantization, 4 bits per output channel (PerChannelMinMaxObserver)", lambda m, d, g: fake_quantize(m, 4, True)),
        ("quant-3-channel", "the same, 3 bits per output channel", lambda m, d, g: fake_quantize(m, 3, True)),
        ("half", "model.half() and back", lambda m, d, g: m.half().float()),
        ("head-retrain", "classifier re-initialised, 1 epoch SGD lr 0.01 on frozen features (BN and dropout in eval mode)", lambda m, d, g: head_retrain(m, d, n, g)),
    ]


def npx(*args, capture=False):
    r = subprocess.run(["npx", "weightmark", *args], cwd=ROOT, check=True, capture_output=capture, text=True)
    return r.stdout


# Each PyTorch attack's nearest row in weightmark's own report (docs/robustness-ARCH.json): attack, strength.
COUNTERPARTS = {
    "sgd-0.01-1": ("fine-tune-low-lr", 1), "sgd-0.01-3": ("fine-tune-low-lr", 3), "sgd-0.1-1": ("fine-tune", 1),
    "prune-50": ("prune-global", 0.5), "prune-80": ("prune-global", 0.8), "quant-4-tensor": ("quantize", 4),
    "quant-4-channel": ("quantize-channel", 4), "quant-3-channel": ("quantize-channel", 3), "half": ("float16", 1),
    "head-retrain": ("reinit-head", 1),
}


def release_scores(model_dir, key, work):
    """The release (our standard ONNX export): its weights, and its score through the invariant and the plain alignment."""
    release = work / "release.onnx"
    npx("export", "--model", str(model_dir), "--format", "onnx", "--out", str(release))
    score = lambda *extra: json.loads(npx("extract", "--model", str(release), "--key", str(key), "--json", *extra, capture=True))["r"]
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(release)).graph.initializer}
    return weights, score("--alignment", "invariant"), score("--alignment", "as-read")


def ours_rows(arch, model, accuracy, plain_r):
    """weightmark's own sweeps of the committed report, plain alignment: {(attack, strength): (accuracy, r, baseline r)}.

    Only when the report measured this very model (a row of another model of the same architecture would compare
    unlike things): the series names this model folder, or — in reports that name none — its unattacked accuracy
    and plain r are the release's.
    """
    path = ROOT / f"docs/robustness-{arch}.json"
    rows = {}
    for sweep in json.loads(path.read_text()) if path.exists() else []:
        if sweep["invariant"]:
            continue
        # The committed model's series ('default'; 'naive' in reports made before the label changed), not the
        # paper-style model a report may set beside it (--paper).
        for series in (s for s in sweep["series"] if s["model"] != "paper"):
            if "source" in series and (ROOT / series["source"]).resolve() != Path(model).resolve():
                continue
            if abs(series["baseline"]["accuracy"] - accuracy) > 5e-5 or abs(series["baseline"]["r"] - plain_r) > 1e-6:
                continue
            for p in series["points"]:
                rows[(sweep["attack"]["name"], p["strength"])] = (p["accuracy"], p["r"], series["baseline"]["r"])
    return rows


def render(result):
    key, arch = result["key"], result["arch"]
    result = {**result, "batchNorm": any(isinstance(m, nn.BatchNorm2d) for m in NETWORKS[arch]["make"]().modules())}
    ours = ours_rows(arch, result["model"], result["claimedTestAccuracy"], result["releaseRPlain"])
    lines = [
        f"# {arch} attacked from outside (PyTorch), scored by `weightmark extract`",
        "",
        f"Made by `{result['command']}` ({result['seconds']} s, {result['producer']}). The model: `{result['model']}` "
        f"(training.json: {result['claimedTestAccuracy'] * 100:.2f}% test accuracy)."
        + "".join(f" Rows re-measured by `{r['command']}` ({r['seconds']} s)." for r in result.get("reruns", [])),
        "",
        "Every row starts from the release's standard ONNX export loaded into the PyTorch twin, except the 3-epoch "
        "fine-tune, which continues the 1-epoch one. The attacked network is exported by torch.onnx.export in eval "
        + ("mode (batch norm folded into the convolutions, tensors renamed), and that file is what `weightmark extract "
           f"--key {key} --alignment invariant` scores (onto the key's anchor.safetensors: folded batch "
           "norms leave every output channel scaled, which only a reference can undo; extract's default, as the service, "
           "keeps the better of that and the alignment as read). "
           if result["batchNorm"] else
           "mode (dropout gone), and that file is what `weightmark extract "
           f"--key {key} --alignment invariant` scores (onto the key's anchor.safetensors; extract's default, as the "
           "service, keeps the better of that and the alignment as read). ")
        + "Accuracy: PyTorch's, on the "
        f"10,000 CIFAR-10 test images decoded by Pillow. Training attacks: batch 128, the first {result['perEpoch']} "
        "images of a fresh seeded order per epoch, zero-pad 4 + random crop + flip. Decision at FPR 1e-6.",
        "",
        f"The release itself scores r = {result['releaseR']:.4f} through the same alignment ({result['releaseRPlain']:.4f} "
        "plain: the anchor is the network from before the key draw, and realigning onto it costs r — docs/statistics.md, "
        "\"The alignment anchor\"), so Δr is measured from the former. "
        + (f"The last column is weightmark's own attack of the nearest kind in docs/robustness-{arch}.md (plain alignment, "
           "Δr from its unattacked plain r; its training attacks also use 10,000 images per epoch, on its own decoder's pixels)."
           if ours else
           f"docs/robustness-{arch}.md was measured on another model, so the last column has no counterpart of weightmark's own."),
        "",
        "| attack | what | accuracy | r | Δr | log10 p | decision | BN nodes left | weightmark's attack: accuracy / Δr |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if result.get("incomplete"):
        lines[2:2] = [f"**Incomplete: {result['incomplete']}** (the run was interrupted or is still going).", ""]
    for r in result["rows"]:
        twin = COUNTERPARTS.get(r["attack"])
        mine = ours.get(twin) if twin else None
        cell = f"{twin[0]} {twin[1]}: {mine[0] * 100:.2f}% / {mine[1] - mine[2]:+.4f}" if mine else "—"
        lines.append(f"| {r['attack']} | {r['what']} | {r['accuracy'] * 100:.2f}% | {r['r']:.4f} | {r['r'] - result['releaseR']:+.4f} | "
                     f"{r['log10p']:.1f} | {r['decision']}{' (NaN weights: the training diverged)' if r.get('nonFinite') else ''} | {r['batchNormsInFile']} | {cell} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="resnet32", choices=sorted(NETWORKS))
    parser.add_argument("--model", default=None, help="the committed model folder (default models/ARCH)")
    parser.add_argument("--per-epoch", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="default docs/experiments/outside-attack-ARCH")
    parser.add_argument("--only", default=None, help="comma-separated attack names (default all)")
    parser.add_argument("--render-only", action="store_true", help="rewrite OUT.md from OUT.json (and the release's scores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)  # torch.onnx's notes on the Slice of the option-A shortcut
    model_dir = Path(args.model or f"models/{args.arch}")
    out = Path(args.out or f"docs/experiments/outside-attack-{args.arch}")
    key = model_dir / "key.json"
    if not (model_dir / "training.json").exists() or not key.exists():
        sys.exit(f"{model_dir}: not a trained model folder with its key (needs training.json and key.json, as weightmark train writes)")
    work = Path(tempfile.mkdtemp(prefix="outside-attack-"))
    t0 = time.time()
    weights, release_r, release_r_plain = release_scores(model_dir, key, work)
    if args.render_only:
        result = json.loads(Path(f"{out}.json").read_text())
        result.update(releaseR=release_r, releaseRPlain=release_r_plain)
        Path(f"{out}.json").write_text(json.dumps(result, indent=2) + "\n")
        Path(f"{out}.md").write_text(render(result))
        print(f"wrote {out}.md")
        return
    make = NETWORKS[args.arch]["make"]

    def fresh():
        model = make()
        state = model.state_dict()
        model.load_state_dict({k: torch.tensor(np.array(weights[k])) if k in weights else v for k, v in state.items()}, strict=True)
        return model

    cache = Path(tempfile.gettempdir()) / "outside-attack-cifar10.npz"
    data = Cifar(*decode_cifar(ROOT / "../shared/datasets/cifar10-jpeg.tar.gz", cache))
    claimed = json.loads((model_dir / "training.json").read_text()).get("testAccuracy")
    rows = []
    chosen = [a for a in attacks(args) if not args.only or a[0] in args.only.split(",") or a[0] == "none"]
    command = "/usr/bin/python3 scripts/outside_attack_cifar.py " + " ".join(sys.argv[1:])
    previous = json.loads(Path(f"{out}.json").read_text()) if args.only and Path(f"{out}.json").exists() else None

    def write(done):
        """After every row, so an interrupted run keeps what it measured (marked incomplete until the end)."""
        table = rows
        if previous:
            # A partial re-run replaces its rows in the committed table and keeps the others.
            fresh_rows = {r["attack"]: r for r in rows}
            kept = {r["attack"]: r for r in previous["rows"]}
            table = [fresh_rows.get(a[0], kept.get(a[0])) for a in attacks(args) if a[0] in fresh_rows or a[0] in kept]
        result = {
            "arch": args.arch, "model": str(model_dir), "key": str(key), "claimedTestAccuracy": claimed,
            "producer": f"pytorch {torch.__version__}, onnx {onnx.__version__}", "perEpoch": args.per_epoch, "seed": args.seed,
            "threads": args.threads, "seconds": round(time.time() - t0), "releaseR": release_r, "releaseRPlain": release_r_plain,
            "rows": table, "command": command, **({} if done else {"incomplete": f"{len(rows)} of {len(chosen)} rows measured so far"}),
        }
        if previous:
            result.update(command=previous["command"], seconds=previous["seconds"],
                          reruns=previous.get("reruns", []) + [{"command": command, "seconds": round(time.time() - t0)}])
        out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{out}.json").write_text(json.dumps(result, indent=2) + "\n")
        Path(f"{out}.md").write_text(render(result))

    model = None
    for name, what, run in chosen:
        started = time.time()
        # sgd-0.01-3 continues the 1-epoch model (3 epochs in all); every other attack starts from the release.
        if name == "sgd-0.01-3" and model is not None:
            run(model, data, gen, 1)
        else:
            torch.manual_seed(args.seed)  # dropout's draws (ALL-CNN-C) come from torch's global generator
            model, gen = fresh(), torch.Generator().manual_seed(args.seed)
            run(model, data, gen)
        acc = accuracy(model, data)
        model.eval()
        file = work / f"{name}.onnx"
        torch.onnx.export(model, data.norm(data.xte[:1]), str(file), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13, do_constant_folding=True)
        onnx.checker.check_model(onnx.load(str(file)))
        bn_left = sum(1 for n in onnx.load(str(file)).graph.node if n.op_type == "BatchNormalization")
        s = json.loads(npx("extract", "--model", str(file), "--key", str(key), "--alignment", "invariant", "--json", capture=True))
        row = {"attack": name, "what": what, "accuracy": acc, "r": s["r"], "log10p": s["log10p"], "ber": s["ber"],
               "decision": s["decision"], "nonFinite": s.get("nonFinite", 0), "batchNormsInFile": bn_left,
               "seconds": round(time.time() - started, 1)}
        rows.append(row)
        print(f"{name}: accuracy {acc * 100:.2f}%, r {s['r']:.4f}, log10 p {s['log10p']:.1f}, {s['decision']} ({row['seconds']} s)", flush=True)
        write(False)
        if name != "sgd-0.01-1":
            model = None  # the 1-epoch model is kept for sgd-0.01-3
    write(True)
    print(f"wrote {out}.md and {out}.json ({round(time.time() - t0)} s)")

if __name__ == "__main__":
    main()
