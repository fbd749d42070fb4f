"""PyTorch side of bench/llc-bench.mjs: SGLD steps per second on the Fashion-MNIST MLP
(test/fixtures/fmnist/mlp_seed0.safetensors, 784-512-512-512-10) at a given batch size, with the
devinterp update of test/fixtures/dynamics/llc_reference.py (the same re-implementation the tests
compare against), float32 as devinterp runs, on the Fashion-MNIST test images.
Usage: python3 bench/llc_reference.py CKPT MNIST_DIR BATCH STEPS THREADS  → one JSON line."""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
sys.path.insert(0, FIXTURES)
sys.path.insert(0, os.path.join(FIXTURES, "dynamics"))
from llc_reference import sgld_step  # noqa: E402
from pylib import fmnist  # noqa: E402
from pylib.models import mlp  # noqa: E402
from pylib.safetensors_io import load_torch  # noqa: E402

ckpt, folder, batch, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
x, y = fmnist.flat("test", folder)
model = mlp([784, 512, 512, 512, 10])
model.load_state_dict(load_torch(ckpt))
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
