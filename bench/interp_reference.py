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
import json
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib import fmnist  # noqa: E402
from pylib.models import mlp as make_mlp  # noqa: E402
from pylib.safetensors_io import load_torch, save_safetensors  # noqa: E402
from pylib.training import loss_accuracy, train_adam  # noqa: E402

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))


def mlp():
    return make_mlp([784, 512, 512, 512, 10])


def train(data_dir, out_dir):
    x, y = fmnist.flat("train", data_dir)
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = mlp()
        train_adam(model, x, y, 5, lr=1e-3, batch=256, seed=seed)
        save_safetensors(model.state_dict(), os.path.join(out_dir, f"mlp_seed{seed}.safetensors"), {"format": "pt"})


def path(a, b, data_dir, steps, batch):
    t0 = time.perf_counter()
    x, y = fmnist.flat("test", data_dir)
    sa, sb = load_torch(a), load_torch(b)
    model = mlp()
    alphas = np.linspace(0, 1, steps)
    losses, accs = [], []
    with torch.no_grad():
        for al in alphas:
            model.load_state_dict({k: (1 - al) * sa[k] + al * sb[k] for k in sa})
            loss, acc = loss_accuracy(model, x, y, batch)
            losses.append(loss)
            accs.append(acc)
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
