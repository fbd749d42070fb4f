"""Inputs for bench/memory-bench.mjs (peak memory of listing adversarially large files).

Usage: /work/.venv-fixtures/bin/python bench/make_memory_bench.py OUT_DIR
Writes (once; existing files are kept):
  million_tensors.pt          torch.save of a dict of 1 000 000 one-element tensors (real torch, zip format:
                              a million storages, so a million zip members)
  million_views.pt            torch.save of 1 000 000 one-element views of one storage (one member)
  cap_views_1600000.pt        the same with 1 600 000 views (the tensor cap of src/analysis/formats/pickle.ts)
  million_tensors.safetensors a safetensors header listing 1 000 000 one-element F32 tensors
  metadata_10m.safetensors    a `__metadata__` holding a 10 000 000-element array (not str->str: the
                              reference refuses it; we must refuse it clearly or show it, under 1 GB)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib.safetensors_io import header_bytes  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
N = 1_000_000
CAP = 1_600_000  # PICKLE_LIMITS.maxTensors


def safetensors(path, header, data_len):
    """The header, then data_len zero bytes (a sparse file)."""
    raw = header_bytes(header)
    with open(path, "wb") as f:
        f.write(raw)
        f.truncate(len(raw) + data_len)


p = os.path.join(out, "million_tensors.pt")
if not os.path.exists(p):
    torch.save({f"layer{i // 1000}.unit{i % 1000}": torch.tensor([float(i)]) for i in range(N)}, p + ".tmp")
    os.replace(p + ".tmp", p)
p = os.path.join(out, "million_views.pt")
if not os.path.exists(p):
    base = torch.arange(N, dtype=torch.float32)
    torch.save({f"layer{i // 1000}.unit{i % 1000}": base[i:i + 1] for i in range(N)}, p + ".tmp")
    os.replace(p + ".tmp", p)
p = os.path.join(out, f"cap_views_{CAP}.pt")
if not os.path.exists(p):
    base = torch.arange(CAP, dtype=torch.float32)
    torch.save({f"layer{i // 1000}.unit{i % 1000}": base[i:i + 1] for i in range(CAP)}, p + ".tmp")
    os.replace(p + ".tmp", p)
p = os.path.join(out, "million_tensors.safetensors")
if not os.path.exists(p):
    safetensors(p, {f"layer{i // 1000}.unit{i % 1000}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(N)}, 4 * N)
p = os.path.join(out, "metadata_10m.safetensors")
if not os.path.exists(p):
    safetensors(p, {"__metadata__": {"big": list(range(10_000_000))}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 4)
