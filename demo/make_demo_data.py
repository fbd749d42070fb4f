"""Makes demo/data/digits.npz: scikit-learn's 8x8 digits (from Debian's python3-sklearn data
files), the data the demo checkpoints were trained on, as the demo checkpoints saw it:
  x  float32 [1797, 64]  pixel intensities / 16.0, in [0, 1]
  y  int64   [1797]      the digit
Run with /usr/bin/python3 (needs python3-sklearn and numpy). Then for example:
  node dist/cli.js eval demo/checkpoints/mlp_seed0.safetensors --data demo/data/digits.npz
"""
import os

import numpy as np
from sklearn.datasets import load_digits

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
os.makedirs(here, exist_ok=True)
digits = load_digits()
np.savez_compressed(os.path.join(here, "digits.npz"),
                    x=(digits.data / 16.0).astype(np.float32), y=digits.target.astype(np.int64))
print(f"wrote {os.path.join(here, 'digits.npz')}: {len(digits.target)} examples")
