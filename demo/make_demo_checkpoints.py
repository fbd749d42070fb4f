"""Makes the bundled demo checkpoints with real PyTorch (run with /usr/bin/python3; needs
Debian's python3-torch and python3-sklearn). Two small MLPs trained on scikit-learn's 8x8
digits from different seeds, saved the ways researchers save them:
  mlp_seed0.safetensors, mlp_seed1.safetensors   plain state dicts (safetensors)
  mlp_seed0.pt                                    torch.save(state_dict) zip
  mlp_seed0_init.pt                               the seed-0 network before training
  mlp_seed1_lightning.ckpt                        a Lightning-style checkpoint dict
The safetensors files are written with a few lines of struct+json (python3-safetensors is
not in Debian bookworm)."""
import json, os, struct
import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_digits

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")
os.makedirs(here, exist_ok=True)
digits = load_digits()
x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)


def mlp():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


def save_safetensors(sd, path, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, t in sd.items():
        b = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


for seed in (0, 1):
    torch.manual_seed(seed)
    model = mlp()
    if seed == 0:
        torch.save(model.state_dict(), os.path.join(here, "mlp_seed0_init.pt"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(30):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"seed {seed}: train accuracy {acc:.3f}")
    sd = model.state_dict()
    save_safetensors(sd, os.path.join(here, f"mlp_seed{seed}.safetensors"),
                     {"format": "pt", "seed": str(seed), "dataset": "sklearn digits 8x8", "epochs": "30"})
    if seed == 0:
        torch.save(sd, os.path.join(here, "mlp_seed0.pt"))
    else:
        torch.save({"epoch": 29, "global_step": 30 * 29, "pytorch-lightning_version": "2.1.0",
                    "state_dict": {f"model.{k}": v for k, v in sd.items()},
                    "optimizer_states": [opt.state_dict()],
                    "hyper_parameters": {"lr": 1e-3, "hidden": 128, "seed": seed}},
                   os.path.join(here, "mlp_seed1_lightning.ckpt"))
