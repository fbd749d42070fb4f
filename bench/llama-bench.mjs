// Llama benchmark: tokens/s of our forward pass (`ckpt-lens eval`, mean next-token
// cross-entropy) against PyTorch CPU on the same small Llama-style model (the demo's, trained
// on the King James Bible by demo/train_kjv_llama.py) and the same token blocks, in one run.
// The held-out verses are tokenized with the model's tokenizer.json and written as a nanoGPT
// uint16 .bin, which both sides read. PyTorch runs a plain-torch Llama (bench/llama_reference.py,
// Debian's python3-torch, no transformers) on the same number of threads as tfjs uses (1).
// Usage: node bench/llama-bench.mjs
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const ckpt = join(root, 'demo', 'checkpoints', 'kjv_llama_seed0');
const text = join(root, 'demo', 'data', 'kjv');
const data = join(root, 'bench', 'data');
const BLOCK = 128;
const BATCH = 16;
const RUNS = 3;

execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
mkdirSync(data, { recursive: true });
const tok = new Tokenizer(JSON.parse(readFileSync(join(text, 'tokenizer.json'), 'utf8')), {});
const ids = readFileSync(join(text, 'val.txt'), 'utf8').split('\n').filter((l) => l.trim()).flatMap((l) => tok.encode(l, { add_special_tokens: false }).ids);
const bin = join(data, 'kjv_val.bin');
writeFileSync(bin, Buffer.from(Uint16Array.from(ids).buffer));

const lastJson = (out) => JSON.parse(out.trim().split('\n').pop());
const best = (runs) => runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
const ours = best(Array.from({ length: RUNS }, () => lastJson(execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), 'eval', join(ckpt, 'model.safetensors'), '--data', bin, '--block-size', String(BLOCK), '--batch-size', String(BATCH), '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))));
const torch = best(Array.from({ length: RUNS }, () => lastJson(execFileSync(py, [join(root, 'bench', 'llama_reference.py'), ckpt, bin, String(BLOCK), String(BATCH)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } }))));
const tokens = ours.n * BLOCK;
console.log(`\nLlama-style decoder (4 layers, width 64, GQA 4/2 heads, vocabulary 512) on ${ours.n} blocks of ${BLOCK} held-out KJV tokens, batch ${BATCH}, best of ${RUNS} runs`);
console.log('loss = mean next-token cross-entropy over all B·(T−1) predictions (HF labels=input_ids)\n');
console.log(`PyTorch ${torch.torch} CPU (${torch.threads} thread${torch.threads > 1 ? 's' : ''})   loss ${torch.loss.toFixed(5)}   ${Math.round(torch.tokens / torch.seconds)} tokens/s`);
console.log(`Checkpoint Lens, tfjs ${ours.backend}        loss ${ours.loss.toFixed(5)}   ${Math.round(tokens / ours.seconds)} tokens/s`);
console.log(`\nratio (our tokens/s ÷ PyTorch's; > 1 means we are faster): ${(torch.seconds / ours.seconds).toFixed(2)}×, |Δloss| ${Math.abs(ours.loss - torch.loss).toExponential(1)}`);
