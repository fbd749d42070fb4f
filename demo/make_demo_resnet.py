"""Makes the demo ResNet and its image data with real PyTorch (run with /usr/bin/python3; needs
Debian's python3-torch and python3-sklearn):
  checkpoints/resnet_digits.safetensors  torchvision-style ResNet, BasicBlock [2, 2, 2, 2],
                                         widths 8-64, small-image stem, trained on the digits
  data/digits_images.npz                 the same digits as images: x float32 [1797, 1, 8, 8]
                                         in [0, 1], y int64
The residual blocks are what the layer-dropping analysis removes one at a time. PyTorch's loss
and accuracy on the data go to eval.expected.json beside the MLP's."""
import json, os, struct, sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "test", "fixtures", "models"))
from torch_resnet import BasicBlock, ResNet  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)
digits = load_digits()
x = torch.tensor(digits.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
y = torch.tensor(digits.target, dtype=torch.int64)
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

sd = {k: v for k, v in model.state_dict().items()}
header, offset, blobs = {"__metadata__": {"format": "pt", "trained_on": "sklearn digits 8x8 images"}}, 0, []
for name, t in sd.items():
    if t.dtype == torch.int64:
        b, dtype = t.contiguous().numpy().astype("<i8").tobytes(), "I64"
    else:
        b, dtype = t.detach().contiguous().numpy().astype("<f4").tobytes(), "F32"
    header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
    offset += len(b)
    blobs.append(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(here, "checkpoints", "resnet_digits.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

path = os.path.join(here, "eval.expected.json")
expected = json.load(open(path))
expected["resnet_digits.safetensors"] = {"loss": loss, "accuracy": acc, "n": len(y), "data": "data/digits_images.npz"}
with open(path, "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
