#!/usr/bin/python3
"""scipy side of bench/lap-bench.mjs: makes the benchmark matrices and times
scipy.optimize.linear_sum_assignment on them.

A line protocol on stdin/stdout, so that the Node driver can alternate scipy and our solver in
one run (fair under a noisy machine):
  gen <kind> <n> <seed> <path>   write an n×n float64 matrix (little-endian, row-major) to path
                                 kinds: uniform      U[0,1)              (the usual LAP benchmark)
                                        similarity   A @ B.T, A, B n×n standard normal (what
                                                     weight matching maximises)
  time <path> <n> <maximize>     solve once; answer {"seconds", "total"}
  quit
Run with Debian's Python (numpy, scipy): /usr/bin/python3 bench/lap_reference.py
"""
import json
import math
import sys
import time

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment


def main():
    print(json.dumps({"scipy": scipy.__version__, "numpy": np.__version__}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "gen":
            kind, n, seed, path = cmd[1], int(cmd[2]), int(cmd[3]), cmd[4]
            rng = np.random.default_rng(seed)
            if kind == "uniform":
                c = rng.random((n, n))
            elif kind == "similarity":
                a = rng.standard_normal((n, n))
                b = rng.standard_normal((n, n))
                c = a @ b.T
            else:
                raise ValueError(kind)
            c.astype("<f8").tofile(path)
            print(json.dumps({"ok": True}), flush=True)
        elif cmd[0] == "time":
            path, n, maximize = cmd[1], int(cmd[2]), cmd[3] == "1"
            c = np.fromfile(path, dtype="<f8").reshape(n, n)
            t0 = time.perf_counter()
            rows, cols = linear_sum_assignment(c, maximize=maximize)
            seconds = time.perf_counter() - t0
            print(json.dumps({"seconds": seconds, "total": math.fsum(c[rows, cols])}), flush=True)
        else:
            raise ValueError(cmd[0])


if __name__ == "__main__":
    main()
