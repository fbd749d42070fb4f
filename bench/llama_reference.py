"""PyTorch CPU reference for the Llama benchmark: the Llama forward pass written in plain torch
(RMSNorm, rotary, grouped-query attention, SwiGLU, tied head; the arithmetic of transformers'
LlamaForCausalLM in eager mode), reading the checkpoint's safetensors and config.json directly,
so it runs on Debian's python3-torch without transformers. Evaluates mean next-token
cross-entropy over blocks of a nanoGPT-style uint16 .bin and prints one JSON line.

    /usr/bin/python3 bench/llama_reference.py CKPT_DIR TOKENS.bin BLOCK BATCH
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
from pylib.safetensors_io import load_torch  # noqa: E402


class Llama:
    def __init__(self, ckpt_dir):
        self.cfg = json.load(open(os.path.join(ckpt_dir, "config.json")))
        self.w = load_torch(os.path.join(ckpt_dir, "model.safetensors"), np.float32)
        c = self.cfg
        self.h, self.kv = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c.get("head_dim") or c["hidden_size"] // self.h
        rp = c.get("rope_parameters") or {}
        theta = rp.get("rope_theta", c.get("rope_theta", 10000.0))
        self.inv = 1.0 / (theta ** (torch.arange(0, self.hd, 2).float() / self.hd))
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.n = c["num_hidden_layers"]
        self.head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def norm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def forward(self, ids):
        B, T = ids.shape
        w = self.w
        x = w["model.embed_tokens.weight"][ids]
        freqs = torch.outer(torch.arange(T).float(), self.inv)
        emb = torch.cat([freqs, freqs], -1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)

        def rot(t):
            t1, t2 = t[..., : self.hd // 2], t[..., self.hd // 2:]
            return t * cos + torch.cat([-t2, t1], -1) * sin

        for i in range(self.n):
            p = f"model.layers.{i}."
            a = self.norm(x, w[p + "input_layernorm.weight"])
            q = F.linear(a, w[p + "self_attn.q_proj.weight"], w.get(p + "self_attn.q_proj.bias")).view(B, T, self.h, self.hd).transpose(1, 2)
            k = F.linear(a, w[p + "self_attn.k_proj.weight"], w.get(p + "self_attn.k_proj.bias")).view(B, T, self.kv, self.hd).transpose(1, 2)
            v = F.linear(a, w[p + "self_attn.v_proj.weight"], w.get(p + "self_attn.v_proj.bias")).view(B, T, self.kv, self.hd).transpose(1, 2)
            q, k = rot(q), rot(k)
            k = k.repeat_interleave(self.h // self.kv, 1)
            v = v.repeat_interleave(self.h // self.kv, 1)
            att = (q @ k.transpose(-1, -2) / math.sqrt(self.hd) + mask).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, self.h * self.hd)
            x = x + F.linear(y, w[p + "self_attn.o_proj.weight"])
            m = self.norm(x, w[p + "post_attention_layernorm.weight"])
            x = x + F.linear(F.silu(F.linear(m, w[p + "mlp.gate_proj.weight"])) * F.linear(m, w[p + "mlp.up_proj.weight"]), w[p + "mlp.down_proj.weight"])
        return F.linear(self.norm(x, w["model.norm.weight"]), self.head)


def main():
    ckpt, tokens, block, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ids = np.fromfile(tokens, dtype=np.uint16).astype(np.int64)
    n = len(ids) // block
    x = torch.from_numpy(ids[: n * block].reshape(n, block))
    model = Llama(ckpt)
    total, count = 0.0, 0
    with torch.no_grad():
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            xb = x[s: s + batch]
            logits = model.forward(xb)
            V = logits.shape[-1]
            total += F.cross_entropy(logits[:, :-1].reshape(-1, V), xb[:, 1:].reshape(-1), reduction="sum").item()
            count += xb.shape[0] * (block - 1)
        seconds = time.perf_counter() - t0
    print(json.dumps({"loss": total / count, "n": n, "tokens": n * block, "seconds": seconds, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
