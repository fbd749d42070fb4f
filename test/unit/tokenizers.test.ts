// Tokenizer parity: @huggingface/tokenizers (through data/tokenizer.ts) against the Python
// `tokenizers` library on 2990 lines of mixed text (Bible verses, Vim help with code, Unicode
// names with symbols and non-Latin letters), for a byte-level BPE, a BERT-style WordPiece and a
// SentencePiece-style Unigram tokenizer (test/fixtures/tokenizers/make_tokenizer_fixtures.py).
// Every line's ids must be equal: its token count and FNV-1a hash, and the first 40 in full.
// Known differences, WordPiece only: @huggingface/tokenizers 0.2's BERT normalizer does not
// treat the CJK Compatibility Ideographs Supplement (U+2F800–U+2FA1F) as Chinese characters, which
// Python's does (it pads them with spaces), and its BERT pre-tokenizer splits U+16E98 MEDEFAIDRIN
// FULL STOP differently. Those lines are counted and reported; every other line must match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadTokenizer } from '../../src/analysis/data/tokenizer';
import { fixture } from '../helpers';

interface Expected {
  first: number[][];
  counts: number[];
  hashes: number[];
}

function fnv(ids: number[]): number {
  let h = 0x811c9dc5;
  for (const id of ids) {
    for (let k = 0; k < 4; k++) {
      h ^= (id >>> (8 * k)) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}

/** Skips (saying why) where a node_modules predates the dependency; a fresh npm install has it. */
const NO_TOKENIZERS = (() => {
  try {
    require.resolve('@huggingface/tokenizers');
    return false;
  } catch {
    return '@huggingface/tokenizers is not installed here (npm install)';
  }
})();

const lines = readFileSync(fixture('tokenizers', 'lines.txt'), 'utf8').split('\n').slice(0, -1);
const expected = JSON.parse(readFileSync(fixture('tokenizers', 'expected.json'), 'utf8')) as Record<string, Expected> & { lines: number };

for (const kind of ['bpe', 'wordpiece', 'unigram']) {
  test(`${kind}: token ids equal Python tokenizers' on ${expected.lines} lines of mixed text`, { skip: NO_TOKENIZERS }, async (t) => {
    assert.equal(lines.length, expected.lines);
    const tok = await loadTokenizer(fixture('tokenizers', kind, 'tokenizer.json'));
    const e = expected[kind];
    let equal = 0;
    let known = 0;
    const bad: string[] = [];
    const knownGap = /[\u{2F800}-\u{2FA1F}\u{16E98}]/u;
    lines.forEach((line, i) => {
      const ids = tok.encode(line);
      if (i < e.first.length) assert.deepEqual(ids, e.first[i], `line ${i + 1}: ${line}`);
      if (ids.length === e.counts[i] && fnv(ids) === e.hashes[i]) equal++;
      else if (kind === 'wordpiece' && knownGap.test(line)) known++;
      else if (bad.length < 5) bad.push(`line ${i + 1} (${ids.length} ids, expected ${e.counts[i]}): ${line.slice(0, 80)}`);
    });
    t.diagnostic(`${kind}: ${equal}/${lines.length} lines with identical ids${known ? ` (${known} differ on CJK Compatibility Ideographs Supplement characters or U+16E98, known gaps of the JS implementation)` : ''}`);
    assert.equal(equal + known, lines.length, bad.join('\n'));
  });
}
