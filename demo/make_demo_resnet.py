"""Makes the demo ResNet and its image data with real PyTorch (run with /usr/bin/python3; needs
Debian's python3-torch and python3-sklearn):
  checkpoints/resnet_digits.safetensors  torchvision-style ResNet, BasicBlock [2, 2, 2, 2],
                                         widths 8-64, small-image stem, trained on the digits
  data/digits_images.npz                 the same digits as images: x float32 [1797, 1, 8, 8]
                                         in [0, 1], y int64
The residual blocks are what the layer-dropping analysis removes one at a time. PyTorch's loss
and accuracy on the data go to eval.expected.json beside the MLP's."""
import json, os, sys

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "test", "fixtures"))
from pylib.digits import digits  # noqa: E402
from pylib.resnet import BasicBlock, ResNet  # noqa: E402
from pylib.safetensors_io import save_safetensors  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)
x, y = digits(images=True)
np.savez_compressed(os.path.join(here, "data", "digits_images.npz"), x=x.numpy(), y=y.numpy())

model = ResNet(BasicBlock, [2, 2, 2, 2], [8, 16, 32, 64], 1, 10, True)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(30):
    model.train()
    for idx in torch.randperm(len(y)).split(64):
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
model.eval()
with torch.no_grad():
    logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    acc = (logits.argmax(1) == y).float().mean().item()
print(f"resnet_digits: loss {loss:.4f}, accuracy {acc:.4f}")

save_safetensors(model.state_dict(), os.path.join(here, "checkpoints", "resnet_digits.safetensors"),
                 {"format": "pt", "trained_on": "sklearn digits 8x8 images"})

path = os.path.join(here, "eval.expected.json")
expected = json.load(open(path))
expected["resnet_digits.safetensors"] = {"loss": loss, "accuracy": acc, "n": len(y), "data": "data/digits_images.npz"}
with open(path, "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
