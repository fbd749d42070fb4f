"""PyTorch side of the graph-network part of bench/llc-bench.mjs: SGLD steps per second on the
ResNet fixture (test/fixtures/models/resnet_basic.safetensors: BasicBlocks [2, 1, 1, 1], 79k
parameters, 8x8 digits) in training mode (BatchNorm on batch statistics, as devinterp samples),
with the devinterp update of test/fixtures/dynamics/llc_reference.py, float32.
Usage: python3 bench/llc_graph_reference.py DIGITS_NPZ BATCH STEPS THREADS  → one JSON line."""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "dynamics"))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures"))
from llc_reference import sgld_step  # noqa: E402
from pylib.resnet import BasicBlock, ResNet  # noqa: E402
from pylib.safetensors_io import load_torch as load_safetensors  # noqa: E402

data, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
d = np.load(data)
x = torch.from_numpy(d["x"])
y = torch.from_numpy(d["y"])
model = ResNet(BasicBlock, [2, 1, 1, 1], [8, 16, 32, 64], 1, 10, True)
model.load_state_dict(load_safetensors(os.path.join(ROOT, "test", "fixtures", "models", "resnet_basic.safetensors")))
model.train()
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
