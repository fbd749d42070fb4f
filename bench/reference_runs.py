"""numpy reference for the `runs` benchmark: the same figures as `ckpt-lens runs` over one run
folder of safetensors checkpoints (per weight matrix and checkpoint: norm, distance from the first
checkpoint, update from the previous one; float64 sums), reading each file once and keeping the
first and previous checkpoints' weights in memory, as ours does.
Usage: reference_runs.py DIR  -> one JSON line on stdout (seconds, peak RSS, a checksum)."""
import json, os, re, resource, struct, sys, time
import numpy as np


def read_weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, h in header.items():
            if name == "__metadata__" or len(h["shape"]) < 2 or h["dtype"] != "F32":
                continue
            b, e = h["data_offsets"]
            f.seek(base + b)
            out[name] = np.frombuffer(f.read(e - b), dtype="<f4").reshape(h["shape"])
        return out


def norm64(x):
    # float64 accumulation, like ours: the dot of the float64 copy with itself.
    x = x.astype(np.float64).ravel()
    return float(np.sqrt(x @ x))


def main():
    d = sys.argv[1]
    files = sorted((f for f in os.listdir(d) if f.endswith(".safetensors")), key=lambda f: int(re.search(r"(\d+)", f).group(1)))
    t0 = time.perf_counter()
    first = prev = None
    rows = []
    for f in files:
        w = read_weights(os.path.join(d, f))
        for name, x in w.items():
            rows.append((f, name, norm64(x), norm64(x - first[name]) if first else 0.0, norm64(x - prev[name]) if prev else None))
        if first is None:
            first = w
        prev = w
    seconds = time.perf_counter() - t0
    checksum = sum(r[3] for r in rows)
    print(json.dumps({"seconds": seconds, "checkpoints": len(files), "points": len(rows), "checksum": checksum,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
