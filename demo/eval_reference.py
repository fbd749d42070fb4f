"""PyTorch's loss and accuracy of the demo MLPs on demo/data/digits.npz, the expectation the
extension's evaluate command is tested against (run with /usr/bin/python3; writes
demo/eval.expected.json)."""
import json, os, sys
import numpy as np
import torch
from torch import nn

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "test", "fixtures"))
from pylib.models import mlp  # noqa: E402

d = np.load(os.path.join(here, "data", "digits.npz"))
x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"])
out = {}
for name in ("mlp_seed0.pt",):
    sd = torch.load(os.path.join(here, "checkpoints", name))
    m = mlp([64, 128, 128, 10])
    m.load_state_dict(sd)
    with torch.no_grad():
        logits = m(x)
    out[name] = {"loss": nn.functional.cross_entropy(logits, y).item(), "accuracy": (logits.argmax(1) == y).float().mean().item(), "n": len(y)}
json.dump(out, open(os.path.join(here, "eval.expected.json"), "w"), indent=1)
print(out)
