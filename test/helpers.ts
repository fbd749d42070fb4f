// Shared test helpers. Tests are bundled into out/test/**, so paths are found from the repo root.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findRoot(start: string): string {
  let d = start;
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('repo root not found from ' + start);
    d = up;
  }
  return d;
}

export const REPO_ROOT = findRoot(__dirname);
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
export const fixture = (...parts: string[]): string => join(FIXTURES, ...parts);

/** |a - b| <= rel * max(|a|, |b|) + abs */
export function close(a: number | null, b: number | null, rel = 1e-6, abs = 1e-12): boolean {
  if (a === null || b === null) return a === b;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + abs;
}

/** Parts of hand-built binary inputs: a byte, a latin-1 string, or bytes. */
export type Part = number | string | Uint8Array | number[];

/** Concatenates opcode bytes, latin-1 strings and byte arrays (for hand-built pickles). */
export function bytes(...parts: Part[]): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === 'number' ? Uint8Array.of(p) : typeof p === 'string' ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : Uint8Array.from(p),
  );
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The PyTorch-made model fixtures (test/fixtures/models/make_model_fixtures.py), one per family. */
export const MODEL_FIXTURES: Record<string, string> = {
  mlp: 'mlp.safetensors',
  cnn: 'cnn.safetensors',
  resnet_basic: 'resnet_basic.safetensors',
  resnet_bottleneck: 'resnet_bottleneck.safetensors',
  gpt2_hf: 'gpt2_hf.safetensors',
  nanogpt: 'nanogpt.pt',
};
