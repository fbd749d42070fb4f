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
"""
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(2)


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

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


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
    kind, ckpt, data_dir, batch = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    model = mlp() if kind == "mlp" else ResNet()
    model.load_state_dict(load_safetensors(ckpt))
    model.eval()
    x, y = load_split(data_dir, "test")
    loss_sum, correct = 0.0, 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].float() / 255
            logits = model(xb if kind == "mlp" else xb.unsqueeze(1))
            loss_sum += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
            correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    seconds = time.perf_counter() - t0
    print(json.dumps({"loss": loss_sum / len(x), "accuracy": correct / len(x), "n": len(x), "seconds": seconds,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


main()
