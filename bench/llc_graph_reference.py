"""PyTorch side of the graph-network part of bench/llc-bench.mjs: SGLD steps per second on the
ResNet fixture (test/fixtures/models/resnet_basic.safetensors: BasicBlocks [2, 1, 1, 1], 79k
parameters, 8x8 digits) in training mode (BatchNorm on batch statistics, as devinterp samples),
with the devinterp update of test/fixtures/dynamics/llc_reference.py, float32.
Usage: python3 bench/llc_graph_reference.py DIGITS_NPZ BATCH STEPS THREADS  → one JSON line."""
import os
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "dynamics"))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures"))
from llc_reference import sgld_step  # noqa: E402
from pylib.sgld_bench import time_sgld  # noqa: E402
from pylib.resnet import BasicBlock, ResNet  # noqa: E402
from pylib.safetensors_io import load_torch as load_safetensors  # noqa: E402

data, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
d = np.load(data)
x = torch.from_numpy(d["x"])
y = torch.from_numpy(d["y"])
model = ResNet(BasicBlock, [2, 1, 1, 1], [8, 16, 32, 64], 1, 10, True)
model.load_state_dict(load_safetensors(os.path.join(ROOT, "test", "fixtures", "models", "resnet_basic.safetensors")))
model.train()
time_sgld(model, x, y, batch, steps, threads, sgld_step)
