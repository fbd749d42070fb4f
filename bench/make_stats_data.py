"""Generates the statistics benchmark input: ~1 GB of float32 tensors, written both as
safetensors (by test/fixtures/pylib/safetensors_io.py: struct+json following the format spec) and as a torch.save
zip file with the same tensors. Run with /usr/bin/python3 (Debian python3-torch)."""
import os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib.safetensors_io import save_safetensors  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(0)
# 14 × 64 MB + a spread of smaller tensors: ~1 GB, like a mid-size model's layers.
tensors = {f"layers.{i}.weight": torch.randn(4096, 4096, generator=g) * 0.02 for i in range(14)}
for i in range(64):
    tensors[f"layers.{i}.bias"] = torch.randn(4096, generator=g)
    tensors[f"blocks.{i}.mlp.weight"] = torch.randn(1024, 1536, generator=g)

save_safetensors({name: tensors[name] for name in sorted(tensors)}, os.path.join(out, "bench.safetensors"))
torch.save(tensors, os.path.join(out, "bench.pt"))
print(f"wrote {sum(t.numel() * 4 for t in tensors.values()) / 1e9:.2f} GB of tensors to {out}")
