"""PyTorch side of the barrier-matrix benchmark (run with /usr/bin/python3, Debian's python3-torch).

  basins_reference.py train DATA_DIR OUT_DIR
      trains, once, six Fashion-MNIST MLPs nn.Sequential(Linear(784,512), ReLU, Linear(512,512),
      ReLU, Linear(512,10)) from seeds 0…5 (Adam lr 1e-3, batch 256, 1 epoch) into
      OUT_DIR/mlp6_seed{0..5}.safetensors
  basins_reference.py matrix DATA_DIR LIMIT STEPS CKPT...
      what `ckpt-lens basins` computes, in one run: every pair's test loss and error at STEPS
      points np.linspace(0, 1, STEPS) on the first LIMIT test images (each model's own point
      evaluated once, as ours does), Juneja et al.'s bump height on both, and the wall time of the
      whole job (reading data and weights included, as ours); prints one JSON line.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "fixtures"))
sys.path.insert(0, os.path.join(HERE, "..", "test", "fixtures", "basins"))
from pylib import fmnist  # noqa: E402
from pylib.models import mlp as make_mlp  # noqa: E402
from pylib.safetensors_io import load_torch, save_safetensors  # noqa: E402
from pylib.training import train_adam  # noqa: E402
from make_basins_fixtures import bump_height  # noqa: E402  (the authors' loop)

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))


def mlp():
    return make_mlp([784, 512, 512, 10])


def train(data_dir, out_dir):
    x, y = fmnist.flat("train", data_dir)
    for seed in range(6):
        torch.manual_seed(seed)
        model = mlp()
        train_adam(model, x, y, 1, lr=1e-3, batch=256, seed=seed)
        save_safetensors(model.state_dict(), os.path.join(out_dir, f"mlp6_seed{seed}.safetensors"), {"format": "pt"})


def matrix(data_dir, limit, steps, paths):
    t0 = time.perf_counter()
    x, y = fmnist.flat("test", data_dir)
    x, y = x[:limit], y[:limit]
    sds = [load_torch(p) for p in paths]
    model = mlp()
    alphas = np.linspace(0, 1, steps)

    @torch.no_grad()
    def point(sd):
        model.load_state_dict(sd)
        logits = model(x)
        return F.cross_entropy(logits, y).item(), 1 - (logits.argmax(1) == y).float().mean().item()

    own = [point(sd) for sd in sds]
    n = len(sds)
    loss, err = np.zeros((n, n)), np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            curve = [own[i]] + [point({k: (1 - a) * sds[i][k] + a * sds[j][k] for k in sds[i]}) for a in alphas[1:-1]] + [own[j]]
            loss[i, j] = loss[j, i] = bump_height([c[0] for c in curve])
            err[i, j] = err[j, i] = bump_height([c[1] for c in curve])
    seconds = time.perf_counter() - t0
    print(json.dumps({"loss": loss.tolist(), "error": err.tolist(), "seconds": seconds, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3])
    else:
        matrix(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
