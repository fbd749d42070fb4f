"""PyTorch side of the stitching benchmark (run with /usr/bin/python3, Debian's python3-torch).

  stitch_reference.py {mlp|resnet} CKPT DATA_DIR STEPS BATCH
      trains the stitching layer between the checkpoint's bottom and its own top exactly as
      `ckpt-lens stitch` does: the bottom up to the stitch point (the MLP's second hidden layer,
      the ResNet's layer2), BatchNorm -> Linear / 1x1 conv -> BatchNorm with PyTorch's default
      initialisation, the top after the point; both frozen in eval mode; Adam lr 1e-3 with cosine
      decay over STEPS steps of BATCH training images (uint8 / 255, shuffled with a fixed seed).
      Prints one JSON line: steps, seconds (the training loop only), the last loss, threads.
The models and the data loader are bench/reference_eval.py's (imported).
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_eval as ref  # noqa: E402
from pylib import fmnist  # noqa: E402  (reference_eval put test/fixtures on the path)
from pylib.safetensors_io import load_torch  # noqa: E402

# After the import (reference_eval.py sets its own thread count): one thread, as tfjs-wasm.
torch.set_num_threads(1)


def stitch_layer(kind, c):
    if kind == "mlp":
        return nn.Sequential(nn.BatchNorm1d(c), nn.Linear(c, c), nn.BatchNorm1d(c))
    return nn.Sequential(nn.BatchNorm2d(c), nn.Conv2d(c, c, 1), nn.BatchNorm2d(c))


def split(kind, model):
    if kind == "mlp":
        return model[:5], model[5:], 512
    r = model

    def bottom(x):
        x = F.relu(r.bn1(r.conv1(x)))
        return r.layer2(r.layer1(x))

    def top(x):
        x = r.layer4(r.layer3(x))
        return r.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
    return bottom, top, 32


def main():
    kind, ckpt, data_dir, steps, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    model = ref.mlp() if kind == "mlp" else ref.resnet()
    model.load_state_dict(load_torch(ckpt))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    bottom, top, c = split(kind, model)
    torch.manual_seed(0)
    s = stitch_layer(kind, c)
    s.train()
    opt = torch.optim.Adam(s.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    x, y = fmnist.pixels("train", data_dir)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[i * batch:(i + 1) * batch]
        xb = x[idx].float() / 255
        with torch.no_grad():
            h = bottom(xb if kind == "mlp" else xb.unsqueeze(1))
        loss = F.cross_entropy(top(s(h)), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    seconds = time.perf_counter() - t0
    print(json.dumps({"steps": steps, "seconds": seconds, "loss": loss.item(), "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
