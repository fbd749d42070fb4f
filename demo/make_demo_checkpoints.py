"""Makes the bundled demo checkpoints with real PyTorch (run with /usr/bin/python3; needs
Debian's python3-torch and python3-sklearn). Two small MLPs trained on scikit-learn's 8x8
digits from different seeds, saved the ways researchers save them:
  mlp_seed0.safetensors, mlp_seed1.safetensors   plain state dicts (safetensors)
  mlp_seed0.pt                                    torch.save(state_dict) zip
  mlp_seed0_init.pt                               the seed-0 network before training
  mlp_seed1_lightning.ckpt                        a Lightning-style checkpoint dict
The safetensors files are written by test/fixtures/pylib/safetensors_io.py (struct+json;
python3-safetensors is not in Debian bookworm)."""
import os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib.digits import digits  # noqa: E402
from pylib.models import mlp as make_mlp  # noqa: E402
from pylib.safetensors_io import save_safetensors  # noqa: E402
from pylib.training import train_adam  # noqa: E402

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")
os.makedirs(here, exist_ok=True)
x, y = digits()


def mlp():
    return make_mlp([64, 128, 128, 10])


for seed in (0, 1):
    torch.manual_seed(seed)
    model = mlp()
    if seed == 0:
        torch.save(model.state_dict(), os.path.join(here, "mlp_seed0_init.pt"))
    opt = train_adam(model, x, y, 30, lr=1e-3, batch=64, seed=seed)
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
