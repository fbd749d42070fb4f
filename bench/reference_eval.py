"""PyTorch side of the evaluation benchmark (run with /usr/bin/python3, Debian's python3-torch).

  reference_eval.py train DATA_DIR OUT_DIR   trains, once, the two benchmark models on
      Fashion-MNIST and saves them as safetensors: fmnist_mlp (784-512-512-512-10, ReLU, two
      epochs) and fmnist_resnet (torchvision-style ResNet, BasicBlock [2, 2, 2, 2], widths
      16-128, small-image stem, one epoch on 10,000 training images: the benchmark measures
      throughput, the short training only makes the accuracy meaningful)
  reference_eval.py eval {mlp|resnet} CKPT DATA_DIR BATCH
      evaluates on the test split exactly as `ckpt-lens eval` does (uint8 / 255, mean
      cross-entropy, batches of BATCH) and prints one JSON line with loss, accuracy, n, seconds
      (the evaluation loop only) and the thread count.
  reference_eval.py drop CKPT DATA_DIR BATCH [LIMIT]
      layer dropping on the ResNet exactly as `ckpt-lens drop [--limit LIMIT]` runs it by default: the
      droppable blocks (BasicBlocks with an identity shortcut), their angular distance and block
      influence on the first 512 test images, then the test loss and accuracy (on the first LIMIT
      test images, default all) of the full network and of every distinct configuration of the single, top, bottom, alternate and
      similarity strategies (a dropped block keeps only its shortcut); one JSON line with the
      results and the wall time of the whole job (reading data and weights included, as ours).
Threads: TORCH_THREADS (default 2). Every mode ends its JSON with peakRssMB (this process's).
"""
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib import fmnist  # noqa: E402
from pylib.models import mlp as make_mlp  # noqa: E402
from pylib.resnet import BasicBlock, ResNet  # noqa: E402
from pylib.safetensors_io import load_torch, save_safetensors  # noqa: E402
from pylib.training import loss_accuracy, train_adam  # noqa: E402

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mlp():
    return make_mlp([784, 512, 512, 512, 10], flatten=True)


def resnet():
    return ResNet(BasicBlock, [2, 2, 2, 2], [16, 32, 64, 128], 1, 10, True)


def scaled(image):
    """A batch of uint8 pixels as the network's input: / 255, with a channel axis for images."""
    return (lambda xb: (xb.float() / 255).unsqueeze(1)) if image else (lambda xb: xb.float() / 255)


def main():
    if sys.argv[1] == "train":
        data_dir, out = sys.argv[2], sys.argv[3]
        x, y = fmnist.pixels("train", data_dir)
        torch.manual_seed(0)
        m = mlp()
        train_adam(m, x, y, 2, lr=1e-3, batch=128, seed=0, transform=scaled(False))
        save_safetensors(m.state_dict(), os.path.join(out, "fmnist_mlp.safetensors"))
        torch.manual_seed(0)
        r = resnet()
        train_adam(r, x[:10000], y[:10000], 1, lr=1e-3, batch=128, seed=0, transform=scaled(True))
        save_safetensors(r.state_dict(), os.path.join(out, "fmnist_resnet.safetensors"))
        return
    if sys.argv[1] == "drop":
        drop(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else None)
        return
    kind, ckpt, data_dir, batch = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    model = mlp() if kind == "mlp" else resnet()
    model.load_state_dict(load_torch(ckpt))
    model.eval()
    x, y = fmnist.pixels("test", data_dir)
    t0 = time.perf_counter()
    loss, acc = evaluate(model, x, y, batch, image=kind != "mlp")
    seconds = time.perf_counter() - t0
    print(json.dumps({"loss": loss, "accuracy": acc, "n": len(x), "seconds": seconds,
                      "threads": torch.get_num_threads(), "torch": torch.__version__, "peakRssMB": peak_rss_mb()}))


def evaluate(model, x, y, batch, image, skip=()):
    net = (lambda xb: model(xb, skip)) if image else model
    return loss_accuracy(net, x, y, batch, scaled(image))


def drop(ckpt, data_dir, batch, limit=None):
    t0 = time.perf_counter()
    x, y = fmnist.pixels("test", data_dir)
    ex, ey = (x[:limit], y[:limit]) if limit else (x, y)
    model = resnet()
    model.load_state_dict(load_torch(ckpt))
    model.eval()
    blocks = model.droppable()
    # Ranking on the first 512 images, batches of 64 (src/analysis/dropping/blockSimilarity.ts).
    angle = {b: 0.0 for b in blocks}
    cos_sum = {b: 0.0 for b in blocks}
    positions = {b: 0 for b in blocks}
    with torch.no_grad():
        for i in range(0, 512, 64):
            taps = {}
            model(x[i:i + 64].float().unsqueeze(1) / 255, (), taps)
            for b in blocks:
                a, o = (t.double() for t in taps[b])
                c = F.cosine_similarity(a.flatten(1), o.flatten(1), dim=1, eps=0)
                angle[b] += float(torch.arccos(c.clamp(-1, 1)).sum()) / math.pi
                cos_sum[b] += float(F.cosine_similarity(a, o, dim=1, eps=0).sum())
                positions[b] += a.shape[0] * a.shape[2] * a.shape[3]
    ranking = [{"block": b, "angularDistance": angle[b] / 512, "blockInfluence": 1 - cos_sum[b] / positions[b]} for b in blocks]
    order = [r["block"] for r in sorted(ranking, key=lambda r: (r["angularDistance"], blocks.index(r["block"])))]
    n = len(blocks)
    in_order = lambda names: sorted(names, key=blocks.index)
    sets = [("single", 1, [b]) for b in blocks]
    sets += [("top", k, blocks[n - k:]) for k in range(1, n + 1)]
    sets += [("bottom", k, blocks[:k]) for k in range(1, n + 1)]
    sets += [("alternate", k, in_order([blocks[n - 1 - 2 * j] for j in range(k)])) for k in range(1, (n + 1) // 2 + 1)]
    sets += [("similarity", k, in_order(order[:k])) for k in range(1, n + 1)]
    base_loss, base_acc = evaluate(model, ex, ey, batch, True)
    cache, results = {}, []
    for strategy, k, dropped in sets:
        key = "|".join(dropped)
        if key not in cache:
            cache[key] = evaluate(model, ex, ey, batch, True, set(dropped))
        loss, acc = cache[key]
        results.append({"strategy": strategy, "k": k, "dropped": dropped, "loss": loss, "accuracy": acc})
    seconds = time.perf_counter() - t0
    print(json.dumps({"baseline": {"loss": base_loss, "accuracy": base_acc}, "blocks": blocks, "ranking": ranking, "results": results,
                      "evaluations": len(cache) + 1, "n": len(ex), "seconds": seconds, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "peakRssMB": peak_rss_mb()}))


if __name__ == "__main__":
    main()
