// Hugging Face tokenizer.json files (BPE, WordPiece, Unigram) through @huggingface/tokenizers,
// HF's own pure-TypeScript implementation (no native code, no downloads). tokenizer_config.json
// beside it is read when present (it carries settings such as clean-up of spaces).
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError } from '../core/errors';

/** The part of @huggingface/tokenizers' Tokenizer used here. */
interface HfTokenizer {
  encode(text: string, opts: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[]): string;
}
type HfTokenizerClass = new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;

/** The library, loaded on first use (a bundle built without it says so instead of failing to start). */
function tokenizerClass(path: string): HfTokenizerClass {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('@huggingface/tokenizers') as { Tokenizer: HfTokenizerClass }).Tokenizer;
  } catch (e) {
    throw new CheckpointError(path, `text data needs the @huggingface/tokenizers package, which is not installed (run npm install): ${(e as Error).message.split('\n')[0]}`);
  }
}

export interface TextTokenizer {
  /** Token ids of `text` without special tokens (no [CLS]/[SEP], no BOS). */
  encode(text: string, opts?: { specialTokens?: boolean }): number[];
  decode(ids: number[]): string;
}

export async function loadTokenizer(path: string): Promise<TextTokenizer> {
  let json: unknown;
  try {
    json = JSON.parse(await fsp.readFile(path, 'utf8'));
  } catch (e) {
    throw new CheckpointError(path, `cannot read the tokenizer (a Hugging Face tokenizer.json is needed for text data): ${(e as Error).message}`);
  }
  const cfgPath = join(dirname(path), 'tokenizer_config.json');
  const config = existsSync(cfgPath) ? (JSON.parse(await fsp.readFile(cfgPath, 'utf8')) as object) : {};
  const TokenizerClass = tokenizerClass(path);
  let tok: HfTokenizer;
  try {
    tok = new TokenizerClass(json as object, config);
  } catch (e) {
    throw new CheckpointError(path, `not a tokenizer.json this library can run: ${(e as Error).message}`);
  }
  return {
    encode: (text, opts = {}) => tok.encode(text, { add_special_tokens: opts.specialTokens === true }).ids,
    decode: (ids) => tok.decode(ids),
  };
}
