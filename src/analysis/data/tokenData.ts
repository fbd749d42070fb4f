// Token data for language models: nanoGPT's flat uint16 `.bin` files (train.bin / val.bin, as
// prepare.py writes them) cut into consecutive blocks of `blockSize` tokens, and raw text
// (.txt: one example per non-empty line; .jsonl: the "text" field of each record) tokenized
// with a Hugging Face tokenizer.json and cut into blocks the same way.
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../core/errors';
import type { Dataset } from './dataset';
import { loadTokenizer } from './tokenizer';

/** Block size when none is given (--block-size). */
export const DEFAULT_BLOCK_SIZE = 128;

/** Cuts a token stream into ⌊n / blockSize⌋ consecutive non-overlapping blocks [N, blockSize]. */
export function blocksOf(tokens: ArrayLike<number>, blockSize: number, name: string, source: string): Dataset {
  if (!Number.isInteger(blockSize) || blockSize < 2) throw new CheckpointError(source, `block size must be a whole number ≥ 2, got ${blockSize}`);
  const n = Math.floor(tokens.length / blockSize);
  if (n === 0) throw new CheckpointError(source, `${tokens.length} tokens do not fill one block of ${blockSize}`);
  const values = new Int32Array(n * blockSize);
  for (let i = 0; i < values.length; i++) values[i] = tokens[i];
  return { name: `${name} (${n} blocks of ${blockSize} tokens)`, n, x: { values, shape: [n, blockSize], dtype: 'I32', source } };
}

export async function loadTokenBin(path: string, blockSize = DEFAULT_BLOCK_SIZE): Promise<Dataset> {
  const buf = await fsp.readFile(path);
  if (buf.byteLength % 2 !== 0) throw new CheckpointError(path, `${buf.byteLength} bytes is not a whole number of uint16 tokens (nanoGPT .bin files are flat uint16)`);
  const tokens = new Uint16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return blocksOf(tokens, blockSize, path, path);
}

/** The texts of a .txt (non-empty lines) or .jsonl ("text" of each record) file. */
export async function readTexts(path: string): Promise<string[]> {
  const text = await fsp.readFile(path, 'utf8');
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (!path.toLowerCase().endsWith('.jsonl')) return lines;
  return lines.map((l, i) => {
    let rec: unknown;
    try {
      rec = JSON.parse(l);
    } catch (e) {
      throw new CheckpointError(path, `line ${i + 1} is not JSON: ${(e as Error).message}`);
    }
    const t = (rec as { text?: unknown } | null)?.text;
    if (typeof t !== 'string') throw new CheckpointError(path, `line ${i + 1} has no "text" string field`);
    return t;
  });
}

/** tokenizer.json beside the text file, when none is named. */
export function defaultTokenizerPath(textPath: string): string {
  return join(dirname(textPath), 'tokenizer.json');
}

/** Raw text tokenized (no special tokens added) as one stream, cut into blocks. */
export async function loadTextTokens(path: string, tokenizerPath = defaultTokenizerPath(path), blockSize = DEFAULT_BLOCK_SIZE): Promise<Dataset> {
  const tok = await loadTokenizer(tokenizerPath);
  const ids: number[] = [];
  for (const t of await readTexts(path)) for (const id of tok.encode(t)) ids.push(id);
  const ds = blocksOf(ids, blockSize, path, path);
  return { ...ds, name: `${ds.name}, tokenized with ${basename(dirname(tokenizerPath))}/${basename(tokenizerPath)}` };
}
