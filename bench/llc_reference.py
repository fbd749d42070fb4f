"""PyTorch side of bench/llc-bench.mjs: SGLD steps per second on the Fashion-MNIST MLP
(test/fixtures/fmnist/mlp_seed0.safetensors, 784-512-512-512-10) at a given batch size, with the
devinterp update of test/fixtures/dynamics/llc_reference.py (the same re-implementation the tests
compare against), float32 as devinterp runs, on the Fashion-MNIST test images.
Usage: python3 bench/llc_reference.py CKPT MNIST_DIR BATCH STEPS THREADS  → one JSON line."""
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "dynamics"))
from llc_reference import sgld_step  # noqa: E402


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for k, v in header.items():
            if k == "__metadata__":
                continue
            a, b = v["data_offsets"]
            f.seek(base + a)
            out[k] = torch.from_numpy(np.frombuffer(f.read(b - a), dtype=np.float32).reshape(v["shape"]).copy())
    return out


ckpt, folder, batch, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
x = torch.from_numpy(idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255)
y = torch.from_numpy(idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))
model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
model.load_state_dict(load_safetensors(ckpt))
params = list(model.parameters())
initial = [p.detach().clone() for p in params]
g = torch.Generator().manual_seed(0)
perm = torch.randperm(x.shape[0], generator=g)


def step(i):
    sel = perm[(i * batch) % (x.shape[0] - batch):][:batch]
    for p in params:
        p.grad = None
    loss = F.cross_entropy(model(x[sel]), y[sel])
    loss.backward()
    sgld_step(params, [p.grad for p in params], initial, 1e-5, batch / np.log(batch), 100.0, generator=g)
    return float(loss)


for i in range(3):
    step(i)
t = time.perf_counter()
c = time.process_time()
for i in range(steps):
    step(i)
s = time.perf_counter() - t
cpu = time.process_time() - c
print(json.dumps({"torch": torch.__version__, "threads": threads, "steps": steps, "seconds": s, "stepsPerSecond": steps / s, "stepsPerCpuSecond": steps / cpu}))
