"""Trains the demo's small Llama-style language models on the King James Bible (public domain,
shipped by Debian's bible-kjv package: `apt-get install bible-kjv`, whose `bible` prints it).

Run with the fixtures venv (torch 2.x, transformers 5.x, tokenizers), a few minutes of CPU:
    /work/.venv-fixtures/bin/python demo/train_kjv_llama.py
Writes:
  demo/data/kjv/tokenizer.json       byte-level BPE, 512 tokens, trained on the training verses
  demo/data/kjv/val.txt              the held-out verses (the last 600), one per line
  demo/checkpoints/kjv_llama_seed{0,1}/{model.safetensors, config.json}
                                     LlamaForCausalLM: 4 layers, width 64, 4 heads / 2 key-value
                                     heads (GQA), SwiGLU 176, context 128, tied embeddings,
                                     saved in float16 by save_pretrained
  demo/kjv_llama.expected.json       each model's validation loss (mean next-token cross-entropy,
                                     HF's labels=input_ids, over blocks of 128 tokens) as PyTorch
                                     computes it on the float16 weights cast to float32
"""
import json
import os
import subprocess
import time

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

import transformers as tr

ROOT = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(ROOT, "data", "kjv")
BLOCK = 128
STEPS = int(os.environ.get("KJV_STEPS", "1500"))
torch.set_num_threads(int(os.environ.get("KJV_THREADS", "1")))


def verses():
    out = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], capture_output=True, text=True, check=True).stdout
    return [l.split(" ", 1)[1] for l in out.splitlines() if " " in l]


def tokenizer(train):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(train, trainers.BpeTrainer(vocab_size=512, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def stream(tok, lines):
    """The lines tokenized one by one and concatenated, as the extension reads a .txt file."""
    ids = []
    for e in tok.encode_batch(lines, add_special_tokens=False):
        ids += e.ids
    return torch.tensor(ids)


def blocks(ids):
    n = len(ids) // BLOCK
    return ids[: n * BLOCK].view(n, BLOCK)


def config():
    return tr.LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=176, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                          max_position_embeddings=BLOCK, tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})


def val_loss(model, val):
    with torch.no_grad():
        return model(input_ids=val, labels=val).loss.item()


def main():
    os.makedirs(DATA, exist_ok=True)
    all_verses = verses()
    train_v, val_v = all_verses[:-600], all_verses[-600:]
    tok = tokenizer(train_v)
    tok.save(os.path.join(DATA, "tokenizer.json"))
    with open(os.path.join(DATA, "val.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(val_v) + "\n")
    train_ids, val = stream(tok, train_v), blocks(stream(tok, val_v))
    expected = {}
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = tr.LlamaForCausalLM(config())
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=STEPS, pct_start=0.05)
        g = torch.Generator().manual_seed(seed)
        t0 = time.time()
        model.train()
        for step in range(STEPS):
            starts = torch.randint(0, len(train_ids) - BLOCK - 1, (32,), generator=g)
            x = torch.stack([train_ids[s: s + BLOCK] for s in starts])
            loss = model(input_ids=x, labels=x).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step % 250 == 0:
                print(f"seed {seed} step {step} loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
        model.eval()
        out = os.path.join(ROOT, "checkpoints", f"kjv_llama_seed{seed}")
        model.half().save_pretrained(out, safe_serialization=True)
        gen = os.path.join(out, "generation_config.json")
        if os.path.exists(gen):
            os.remove(gen)
        loss = val_loss(model.float(), val)
        expected[f"kjv_llama_seed{seed}"] = {"val_loss": loss, "val_blocks": int(val.shape[0]), "train_seconds": round(time.time() - t0, 1), "steps": STEPS}
        print(f"seed {seed}: validation loss {loss:.4f} over {val.shape[0]} blocks", flush=True)
    with open(os.path.join(ROOT, "kjv_llama.expected.json"), "w") as f:
        json.dump(expected, f, indent=2)


if __name__ == "__main__":
    main()
