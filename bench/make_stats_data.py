"""Generates the statistics benchmark input: ~1 GB of float32 tensors, written both as
safetensors (by a few lines of struct+json following the format spec) and as a torch.save
zip file with the same tensors. Run with /usr/bin/python3 (Debian python3-torch)."""
import json, os, struct, sys
import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(0)
# 14 × 64 MB + a spread of smaller tensors: ~1 GB, like a mid-size model's layers.
tensors = {f"layers.{i}.weight": torch.randn(4096, 4096, generator=g) * 0.02 for i in range(14)}
for i in range(64):
    tensors[f"layers.{i}.bias"] = torch.randn(4096, generator=g)
    tensors[f"blocks.{i}.mlp.weight"] = torch.randn(1024, 1536, generator=g)

st_path = os.path.join(out, "bench.safetensors")
header, offset, order = {}, 0, sorted(tensors)
for name in order:
    n = tensors[name].numel() * 4
    header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + n]}
    offset += n
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(st_path + ".tmp", "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for name in order:
        f.write(tensors[name].contiguous().numpy().tobytes())
os.replace(st_path + ".tmp", st_path)
torch.save(tensors, os.path.join(out, "bench.pt"))
print(f"wrote {offset / 1e9:.2f} GB of tensors to {out}")
