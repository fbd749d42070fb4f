"""PyTorch side of bench/llc-bench.mjs: SGLD steps per second on the Fashion-MNIST MLP
(test/fixtures/fmnist/mlp_seed0.safetensors, 784-512-512-512-10) at a given batch size, with the
devinterp update of test/fixtures/dynamics/llc_reference.py (the same re-implementation the tests
compare against), float32 as devinterp runs, on the Fashion-MNIST test images.
Usage: python3 bench/llc_reference.py CKPT MNIST_DIR BATCH STEPS THREADS  → one JSON line."""
import os
import sys

import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
sys.path.insert(0, FIXTURES)
sys.path.insert(0, os.path.join(FIXTURES, "dynamics"))
from llc_reference import sgld_step  # noqa: E402
from pylib.sgld_bench import time_sgld  # noqa: E402
from pylib import fmnist  # noqa: E402
from pylib.models import mlp  # noqa: E402
from pylib.safetensors_io import load_torch  # noqa: E402

ckpt, folder, batch, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
x, y = fmnist.flat("test", folder)
model = mlp([784, 512, 512, 512, 10])
model.load_state_dict(load_torch(ckpt))
time_sgld(model, x, y, batch, steps, threads, sgld_step)
