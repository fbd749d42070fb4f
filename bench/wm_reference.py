"""Reference weight matching: a numpy/scipy port of samuela/git-re-basin's weight_matching.py
(methods.md §1.3), for PyTorch-layout state dicts.

    perm[p] = identity for every p
    for iteration in 0..max_iter-1:
      progress = False
      for p in a fresh random order of the permutation names (seeded by seed and iteration):
        A = Σ over (key, axis) in perm_to_axes[p] of  moveaxis(θ_A[key], axis, 0).reshape(n, -1)
                                                    @ moveaxis(π_except_axis(θ_B[key]), axis, 0).reshape(n, -1).T
        ri, ci = linear_sum_assignment(A, maximize=True)
        oldL = Σ_i A[i, perm[p][i]];  newL = Σ_i A[i, ci[i]]
        progress |= newL > oldL + 1e-12;  perm[p] = ci
      if not progress: break

The products run in the parameters' dtype (float32 for checkpoints, as in the JAX original) and
accumulate into a float64 A (methods.md §1.9: the 1e-12 progress test needs it).
Visiting orders (git-re-basin: random.permutation(rngmix(rng, iteration), len(perm_names))): by
default the same seeded generator as ours (weightMatching.ts: sweepSeed + mulberry32 +
Fisher–Yates), so that for one seed both visit the groups in the same orders and a difference in
the objective reached is the implementations', not the orders'; order="numpy" draws them from
numpy's default_rng([seed, iteration]) instead.
Convention (get_permuted_param's jnp.take): W'[…, i, …] = W[…, perm[i], …]; unit i of A is
matched with unit perm[i] of B.

As a script (used by bench/wm-bench.mjs):
    /usr/bin/python3 bench/wm_reference.py A.safetensors B.safetensors [--seed S] [--repeat R]
prints one JSON line: {"seconds": [...], "sweeps", "objective", "objectiveIdentity", "orders", "perms"}.
The script's spec is the MLP spec for Linear layers found in the file (names <prefix>.weight of
rank 2, in name order).
"""
import argparse
import json
import os
import sys
import time
from collections import defaultdict

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib.safetensors_io import load_numpy  # noqa: E402


class PermutationSpec:
    def __init__(self, axes_to_perm):
        self.axes_to_perm = axes_to_perm
        perm_to_axes = defaultdict(list)
        for key, axes in axes_to_perm.items():
            for axis, p in enumerate(axes):
                if p is not None:
                    perm_to_axes[p].append((key, axis))
        self.perm_to_axes = dict(perm_to_axes)


def mlp_permutation_spec(layers):
    """PyTorch layout (Linear.weight is (out, in)): hidden layer i carries P_i."""
    L = len(layers) - 1
    spec = {}
    for i, name in enumerate(layers):
        out_p = f"P_{i}" if i < L else None
        in_p = f"P_{i - 1}" if i > 0 else None
        spec[f"{name}.weight"] = (out_p, in_p)
        spec[f"{name}.bias"] = (out_p,)
    return PermutationSpec(spec)


def get_permuted_param(ps, perm, key, params, except_axis=None):
    w = params[key]
    for axis, p in enumerate(ps.axes_to_perm[key]):
        if axis == except_axis or p is None:
            continue
        w = np.take(w, perm[p], axis=axis)
    return w


def apply_permutation(ps, perm, params):
    return {k: get_permuted_param(ps, perm, k, params) if k in ps.axes_to_perm else params[k] for k in params}


def _u32(x):
    return x & 0xFFFFFFFF


def _sweep_seed(seed, it):
    """weightMatching.ts sweepSeed: a 32-bit hash of (seed, sweep)."""
    h = _u32(_u32((seed & 0xFFFFFFFF) * 0x9E3779B1) ^ _u32((it + 1) * 0x85EBCA77))
    h = _u32((h ^ (h >> 16)) * 0x7FEB352D)
    return h ^ (h >> 15)


def _mulberry32(seed):
    """applyPermutation.ts rng: mulberry32, floats in [0, 1)."""
    state = [seed & 0xFFFFFFFF]

    def random():
        state[0] = _u32(state[0] + 0x6D2B79F5)
        t = state[0]
        t = _u32((t ^ (t >> 15)) * (t | 1))
        t = t ^ _u32(t + _u32((t ^ (t >> 7)) * (t | 61)))
        return (t ^ (t >> 14)) / 4294967296
    return random


def _visit_order(k, seed, iteration, order):
    if order == "numpy":
        return np.random.default_rng([seed, iteration]).permutation(k)
    random = _mulberry32(_sweep_seed(seed, iteration))
    p = list(range(k))
    for i in range(k - 1, 0, -1):
        j = int(random() * (i + 1))
        p[i], p[j] = p[j], p[i]
    return p


def weight_matching(ps, params_a, params_b, seed=0, max_iter=100, init_perm=None, order="ckpt-lens"):
    """Returns (perm, info) with info = {sweeps, objective, objective_identity, orders}."""
    perm_sizes = {p: params_a[axes[0][0]].shape[axes[0][1]] for p, axes in ps.perm_to_axes.items()}
    perm = {p: np.arange(n) for p, n in perm_sizes.items()} if init_perm is None else {p: np.asarray(v) for p, v in init_perm.items()}
    perm_names = list(perm.keys())
    objective_identity = objective(ps, perm, params_a, params_b)
    sweeps = 0
    orders = []
    for iteration in range(max_iter):
        sweeps += 1
        progress = False
        visit = [int(i) for i in _visit_order(len(perm_names), seed, iteration, order)]
        orders.append(visit)
        for p_ix in visit:
            p = perm_names[p_ix]
            n = perm_sizes[p]
            A = np.zeros((n, n), dtype=np.float64)
            for key, axis in ps.perm_to_axes[p]:
                w_a = np.moveaxis(params_a[key], axis, 0).reshape((n, -1))
                w_b = np.moveaxis(get_permuted_param(ps, perm, key, params_b, except_axis=axis), axis, 0).reshape((n, -1))
                A += w_a @ w_b.T
            ri, ci = linear_sum_assignment(A, maximize=True)
            assert (ri == np.arange(len(ri))).all()
            old_l = A[np.arange(n), perm[p]].sum()
            new_l = A[np.arange(n), ci].sum()
            progress = progress or new_l > old_l + 1e-12
            perm[p] = ci
        if not progress:
            break
    return perm, {"sweeps": sweeps, "objective": objective(ps, perm, params_a, params_b), "objective_identity": objective_identity, "orders": orders}


def objective(ps, perm, params_a, params_b):
    """Eq. 2 of the paper: Σ over every tensor with a permuted axis of ⟨θ_A[k], π(θ_B)[k]⟩ (float64)."""
    total = 0.0
    for key, axes in ps.axes_to_perm.items():
        if all(p is None for p in axes):
            continue
        wb = get_permuted_param(ps, perm, key, params_b)
        total += float(np.vdot(params_a[key].astype(np.float64), wb.astype(np.float64)))
    return total


def load_safetensors(path):
    """The F32/F64 tensors of a safetensors file as numpy arrays (in their own dtype)."""
    out = load_numpy(path)
    for name, a in out.items():
        if a.dtype not in (np.float32, np.float64):
            raise SystemExit(f"{path}: tensor {name} is {a.dtype}; the reference reads F32/F64 only")
    return out


def _linear_layers(params):
    def order(name):
        return [int(t) if t.isdigit() else t for t in name.split(".")]
    names = [k[: -len(".weight")] for k, v in params.items() if k.endswith(".weight") and v.ndim == 2]
    return sorted(names, key=order)


def main(argv):
    ap = argparse.ArgumentParser(description="numpy/scipy weight matching of two MLP checkpoints")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--order", choices=["ckpt-lens", "numpy"], default="ckpt-lens")
    args = ap.parse_args(argv)
    seed, repeat = args.seed, args.repeat
    a, b = load_safetensors(args.a), load_safetensors(args.b)
    ps = mlp_permutation_spec(_linear_layers(a))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        perm, info = weight_matching(ps, a, b, seed=seed, order=args.order)
        times.append(time.perf_counter() - t0)
    print(json.dumps({
        "seconds": times,
        "sweeps": info["sweeps"],
        "objective": info["objective"],
        "objectiveIdentity": info["objective_identity"],
        "orders": info["orders"],
        "perms": {p: v.tolist() for p, v in perm.items()},
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
