"""PyTorch side of the interpolation benchmark (run with /usr/bin/python3, Debian's python3-torch).

  interp_reference.py train DATA_DIR OUT_DIR
      trains, once, two Fashion-MNIST MLPs nn.Sequential(Linear(784,512), ReLU, Linear(512,512),
      ReLU, Linear(512,512), ReLU, Linear(512,10)) from seeds 0 and 1 (Adam lr 1e-3, batch 256,
      5 epochs, different initialisations and data orders) into OUT_DIR/mlp_seed{0,1}.safetensors
  interp_reference.py path A B DATA_DIR STEPS BATCH
      the straight line θ(α) = (1−α)θ_A + αθ_B at STEPS evenly spaced α, test loss and accuracy at
      each (uint8 / 255, flattened; mean cross-entropy over batches of BATCH), exactly what
      `ckpt-lens interpolate` computes; prints one JSON line with the curve, the linear-baseline
      loss barrier, the wall time of the whole job (reading data and weights included, as ours)
      and this process's peak resident memory (peakRssMB). Threads: TORCH_THREADS (default 2).
"""
import gzip
import json
import os
import struct
import sys
import time

import resource

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(data_dir, stem):
    x = read_idx(os.path.join(data_dir, f"{stem}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{stem}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def save_safetensors(sd, path):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, t in sd.items():
        b = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
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
        assert info["dtype"] == "F32", name
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy())
    return out


def train(data_dir, out_dir):
    x, y = load_split(data_dir, "train")
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = mlp()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(seed)
        for _ in range(5):
            order = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), 256):
                idx = order[i:i + 256]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        save_safetensors(model.state_dict(), os.path.join(out_dir, f"mlp_seed{seed}.safetensors"))


def path(a, b, data_dir, steps, batch):
    t0 = time.perf_counter()
    x, y = load_split(data_dir, "t10k")
    sa, sb = load_safetensors(a), load_safetensors(b)
    model = mlp()
    alphas = np.linspace(0, 1, steps)
    losses, accs = [], []
    with torch.no_grad():
        for al in alphas:
            model.load_state_dict({k: (1 - al) * sa[k] + al * sb[k] for k in sa})
            total, correct = 0.0, 0
            for i in range(0, len(x), batch):
                logits = model(x[i:i + batch])
                total += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
                correct += int((logits.argmax(1) == y[i:i + batch]).sum())
            losses.append(total / len(x))
            accs.append(correct / len(x))
    seconds = time.perf_counter() - t0
    L = np.array(losses)
    barrier = float(np.max(L - ((1 - alphas) * L[0] + alphas * L[-1])))
    print(json.dumps({"alphas": alphas.tolist(), "loss": losses, "accuracy": accs, "barrier": {"lossLinear": barrier},
                      "seconds": seconds, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3])
    else:
        path(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
