"""numpy reference for the `runs` benchmark: the same figures as `ckpt-lens runs` over one run
folder of safetensors checkpoints (per weight matrix and checkpoint: norm, distance from the first
checkpoint, update from the previous one; float64 sums), reading each file once and keeping the
first and previous checkpoints' weights in memory, as ours does.
Usage: reference_runs.py DIR  -> one JSON line on stdout (seconds, peak RSS, a checksum)."""
import json, os, re, resource, sys, time
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib.safetensors_io import load_numpy  # noqa: E402


def read_weights(path):
    """The F32 weight matrices (2 or more dimensions), read one at a time."""
    return load_numpy(path, select=lambda name, h: len(h["shape"]) >= 2 and h["dtype"] == "F32")


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
