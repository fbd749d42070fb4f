"""PyTorch reference for the statistics benchmark: time to list, and per-tensor statistics
(min, max, mean, std, L2 norm, zeros, NaN and Inf counts, 64-bin histogram), with peak RSS.
Usage: reference_stats.py {safetensors|pt} FILE  -> one JSON line on stdout."""
import json, os, resource, sys, time, warnings
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib.safetensors_io import read_header  # noqa: E402

torch.set_num_threads(2)
warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
kind, path = sys.argv[1], sys.argv[2]


def stats(t):
    # The fastest idiomatic torch: aminmax propagates NaN and shows ±Inf, so the costly
    # masking and counting of non-finite values only runs when there are any.
    t = t.reshape(-1)
    lo, hi = torch.aminmax(t)
    nan = inf = 0
    if not (torch.isfinite(lo) and torch.isfinite(hi)):
        nan, inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
        t = t[torch.isfinite(t)]
        lo, hi = torch.aminmax(t)
    std, mean = torch.std_mean(t)
    zeros = t.numel() - int(torch.count_nonzero(t))
    return (lo.item(), hi.item(), mean.item(), std.item(), torch.linalg.vector_norm(t).item(),
            zeros, nan, inf, torch.histc(t, bins=64, min=lo.item(), max=hi.item()))


t0 = time.perf_counter()
if kind == "safetensors":
    # What safetensors' safe_open does: read the header, memory-map the data.
    header, start = read_header(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=start)
    names = [k for k in header if k != "__metadata__"]
    list_s = time.perf_counter() - t0

    def tensor(name):
        b, e = header[name]["data_offsets"]
        # Read-only mmap view (the statistics never write), as safe_open(framework="pt") gives.
        return torch.from_numpy(np.frombuffer(mm[b:e], dtype=np.float32).reshape(header[name]["shape"]))
else:
    sd = torch.load(path, map_location="cpu")  # torch 1.13: no mmap; loading reads every byte
    names = list(sd)
    list_s = time.perf_counter() - t0
    tensor = sd.__getitem__

t1 = time.perf_counter()
nbytes = 0
for name in names:
    t = tensor(name)
    nbytes += t.numel() * t.element_size()
    stats(t)
stats_s = time.perf_counter() - t1
print(json.dumps({"list_s": list_s, "stats_s": stats_s, "bytes": nbytes, "tensors": len(names),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
