"""gguf-py's numpy dequantize() on every tensor of the benchmark GGUF: best of 3 runs per tensor,
data already in memory. Prints one JSON line {type: {"s": wall seconds, "cpu_s": CPU seconds, "values": n}}.
Q8_1 and Q8_K, which gguf-py does not dequantize, use the one-line numpy equivalent (d · q).
Usage: /work/.venv-fixtures/bin/python bench/reference_dequant.py FILE.gguf   (TYPES=Q8_0,Q8_K: only those)
"""
import json
import os
import sys
import time

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

GGML_QUANT_SIZES[T.Q8_1] = (32, 36)


def q8(raw, qt):
    b = raw.reshape(-1, GGML_QUANT_SIZES[qt][1])
    if qt == T.Q8_K:
        return (b[:, 0:4].copy().view(np.float32) * b[:, 4:260].view(np.int8).astype(np.float32)).reshape(-1)
    return (b[:, 0:2].copy().view(np.float16).astype(np.float32) * b[:, 4:36].view(np.int8).astype(np.float32)).reshape(-1)


def main(path):
    r = gguf.GGUFReader(path)
    out = {}
    only = set(os.environ['TYPES'].split(',')) if os.environ.get('TYPES') else None
    for t in r.tensors:
        qt = t.tensor_type
        if only and qt.name not in only:
            continue
        raw = np.array(t.data, copy=True).reshape(-1)
        best = cpu_best = float('inf')
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            v = q8(raw, qt) if qt in (T.Q8_1, T.Q8_K) else gguf.quants.dequantize(raw, qt)
            best = min(best, time.perf_counter() - t0)
            cpu_best = min(cpu_best, time.process_time() - c0)
        out[qt.name] = {'s': best, 'cpu_s': cpu_best, 'values': int(v.size)}
    print(json.dumps({'numpy': np.__version__, 'types': out}))


if __name__ == '__main__':
    main(sys.argv[1])
