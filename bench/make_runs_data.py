"""Benchmark data for `runs`: one training run of 50 checkpoints of a ~25M-parameter MLP
(1024-4096-4096-1024, float32 safetensors, names layers.0/2/4), a random walk from a scaled
normal initialisation. Usage: make_runs_data.py DIR  (writes DIR/step_0000.safetensors …)."""
import os, sys
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib.safetensors_io import save_safetensors  # noqa: E402

STEPS = 50
SIZES = [1024, 4096, 4096, 1024]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    sd = {}
    for i, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        sd[f"layers.{2 * i}.weight"] = (rng.standard_normal((b, a), dtype=np.float32) / np.sqrt(a)).astype(np.float32)
        sd[f"layers.{2 * i}.bias"] = np.zeros(b, dtype=np.float32)
    for step in range(STEPS):
        save_safetensors(sd, os.path.join(out, f"step_{step * 100:05d}.safetensors"))
        for k, v in sd.items():
            v += (1e-3 * rng.standard_normal(v.shape, dtype=np.float32))
    print(f"{STEPS} checkpoints of {sum(v.size for v in sd.values())} parameters in {out}")


if __name__ == "__main__":
    main()
