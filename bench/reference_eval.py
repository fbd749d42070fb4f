"""PyTorch side of the evaluation benchmark (run with /usr/bin/python3, Debian's python3-torch).

  reference_eval.py train DATA_DIR OUT_DIR   trains, once, the two benchmark models on
      Fashion-MNIST and saves them as safetensors: fmnist_mlp (784-512-512-512-10, ReLU, two
      epochs) and fmnist_resnet (torchvision-style ResNet, BasicBlock [2, 2, 2, 2], widths
      16-128, small-image stem, one epoch on 10,000 training images: the benchmark measures
      throughput, the short training only makes the accuracy meaningful)
  reference_eval.py eval {mlp|resnet} CKPT DATA_DIR BATCH
      evaluates on the test split exactly as `ckpt-lens eval` does (uint8 / 255, mean
      cross-entropy, batches of BATCH) and prints one JSON line with loss, accuracy, n, seconds
      (the evaluation loop only) and the thread count.
  reference_eval.py drop CKPT DATA_DIR BATCH [LIMIT]
      layer dropping on the ResNet exactly as `ckpt-lens drop [--limit LIMIT]` runs it by default: the
      droppable blocks (BasicBlocks with an identity shortcut), their angular distance and block
      influence on the first 512 test images, then the test loss and accuracy (on the first LIMIT
      test images, default all) of the full network and of every distinct configuration of the single, top, bottom, alternate and
      similarity strategies (a dropped block keeps only its shortcut); one JSON line with the
      results and the wall time of the whole job (reading data and weights included, as ours).
Threads: TORCH_THREADS (default 2). Every mode ends its JSON with peakRssMB (this process's).
"""
import gzip
import json
import os
import struct
import sys
import time

import math
import resource

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(data_dir, split):
    stem = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, f"{stem}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{stem}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + idt)


class ResNet(nn.Module):
    """torchvision's ResNet layout (parameter names included) with the small-image stem."""

    def __init__(self, widths=(16, 32, 64, 128), depths=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        inplanes = widths[0]
        for i, (w, d) in enumerate(zip(widths, depths)):
            blocks = [BasicBlock(inplanes, w, 1 if i == 0 else 2)] + [BasicBlock(w, w) for _ in range(d - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = w
        self.fc = nn.Linear(inplanes, 10)

    def forward(self, x, skip=(), taps=None):
        """skip: names of blocks to drop (they must have an identity shortcut); taps: a dict that
        receives each block's input and output under its name."""
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(1, 5):
            for j, block in enumerate(getattr(self, f"layer{i}")):
                name = f"layer{i}.{j}"
                y = x if name in skip else block(x)
                if taps is not None:
                    taps[name] = (x, y)
                x = y
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def droppable(self):
        return [f"layer{i}.{j}" for i in range(1, 5) for j, b in enumerate(getattr(self, f"layer{i}")) if b.downsample is None]


def save_safetensors(sd, path):
    header, offset, blobs = {}, 0, []
    for name, t in sd.items():
        t = t.detach().contiguous()
        dt, b = ("I64", t.numpy().astype("<i8").tobytes()) if t.dtype == torch.int64 else ("F32", t.numpy().astype("<f4").tobytes())
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = np.int64 if info["dtype"] == "I64" else np.float32
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dt).reshape(info["shape"]).copy())
    return out


def train(model, x, y, epochs, image):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            xb = x[idx].float() / 255
            loss = F.cross_entropy(model(xb.unsqueeze(1) if image else xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()


def main():
    if sys.argv[1] == "train":
        data_dir, out = sys.argv[2], sys.argv[3]
        x, y = load_split(data_dir, "train")
        torch.manual_seed(0)
        m = mlp()
        train(m, x, y, 2, False)
        save_safetensors(m.state_dict(), os.path.join(out, "fmnist_mlp.safetensors"))
        torch.manual_seed(0)
        r = ResNet()
        train(r, x[:10000], y[:10000], 1, True)
        save_safetensors(r.state_dict(), os.path.join(out, "fmnist_resnet.safetensors"))
        return
    if sys.argv[1] == "drop":
        drop(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else None)
        return
    kind, ckpt, data_dir, batch = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    model = mlp() if kind == "mlp" else ResNet()
    model.load_state_dict(load_safetensors(ckpt))
    model.eval()
    x, y = load_split(data_dir, "test")
    t0 = time.perf_counter()
    loss, acc = evaluate(model, x, y, batch, image=kind != "mlp")
    seconds = time.perf_counter() - t0
    print(json.dumps({"loss": loss, "accuracy": acc, "n": len(x), "seconds": seconds,
                      "threads": torch.get_num_threads(), "torch": torch.__version__, "peakRssMB": peak_rss_mb()}))


def evaluate(model, x, y, batch, image, skip=()):
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].float() / 255
            logits = model(xb.unsqueeze(1), skip) if image else model(xb)
            loss_sum += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
            correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return loss_sum / len(x), correct / len(x)


def drop(ckpt, data_dir, batch, limit=None):
    t0 = time.perf_counter()
    x, y = load_split(data_dir, "test")
    ex, ey = (x[:limit], y[:limit]) if limit else (x, y)
    model = ResNet()
    model.load_state_dict(load_safetensors(ckpt))
    model.eval()
    blocks = model.droppable()
    # Ranking on the first 512 images, batches of 64 (src/analysis/dropping/blockSimilarity.ts).
    angle = {b: 0.0 for b in blocks}
    cos_sum = {b: 0.0 for b in blocks}
    positions = {b: 0 for b in blocks}
    with torch.no_grad():
        for i in range(0, 512, 64):
            taps = {}
            model(x[i:i + 64].float().unsqueeze(1) / 255, (), taps)
            for b in blocks:
                a, o = (t.double() for t in taps[b])
                c = F.cosine_similarity(a.flatten(1), o.flatten(1), dim=1, eps=0)
                angle[b] += float(torch.arccos(c.clamp(-1, 1)).sum()) / math.pi
                cos_sum[b] += float(F.cosine_similarity(a, o, dim=1, eps=0).sum())
                positions[b] += a.shape[0] * a.shape[2] * a.shape[3]
    ranking = [{"block": b, "angularDistance": angle[b] / 512, "blockInfluence": 1 - cos_sum[b] / positions[b]} for b in blocks]
    order = [r["block"] for r in sorted(ranking, key=lambda r: (r["angularDistance"], blocks.index(r["block"])))]
    n = len(blocks)
    in_order = lambda names: sorted(names, key=blocks.index)
    sets = [("single", 1, [b]) for b in blocks]
    sets += [("top", k, blocks[n - k:]) for k in range(1, n + 1)]
    sets += [("bottom", k, blocks[:k]) for k in range(1, n + 1)]
    sets += [("alternate", k, in_order([blocks[n - 1 - 2 * j] for j in range(k)])) for k in range(1, (n + 1) // 2 + 1)]
    sets += [("similarity", k, in_order(order[:k])) for k in range(1, n + 1)]
    base_loss, base_acc = evaluate(model, ex, ey, batch, True)
    cache, results = {}, []
    for strategy, k, dropped in sets:
        key = "|".join(dropped)
        if key not in cache:
            cache[key] = evaluate(model, ex, ey, batch, True, set(dropped))
        loss, acc = cache[key]
        results.append({"strategy": strategy, "k": k, "dropped": dropped, "loss": loss, "accuracy": acc})
    seconds = time.perf_counter() - t0
    print(json.dumps({"baseline": {"loss": base_loss, "accuracy": base_acc}, "blocks": blocks, "ranking": ranking, "results": results,
                      "evaluations": len(cache) + 1, "n": len(ex), "seconds": seconds, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "peakRssMB": peak_rss_mb()}))


main()
