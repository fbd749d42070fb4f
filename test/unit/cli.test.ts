// The `ckpt-lens` CLI end to end: the built dist/cli.js on every fixture that has a
// PyTorch/numpy-made expectation, and on bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import type { TensorStats } from '../../src/analysis/stats/tensorStats';
import { assertStats } from '../expectations';
import { FIXTURES, REPO_ROOT } from '../helpers';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');

interface CliOutput {
  format: string;
  stateDictPrefix: string;
  tensors: { name: string; dtype: string; shape: number[]; sharesStorageWith?: string[]; stats: TensorStats }[];
}
interface Expected {
  format: string;
  stateDictPrefix?: string;
  tensors: { name: string; dtype: string; shape: number[]; sharesStorageWith?: string[]; stats: TensorStats }[];
}

function expectedFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    // pickles/ holds bare pickles for the pickle machine's tests, not checkpoints.
    if (statSync(p).isDirectory()) { if (name !== 'pickles') out.push(...expectedFiles(p)); }
    else if (name.endsWith('.expected.json')) out.push(p);
  }
  return out.sort();
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const files = [...expectedFiles(join(FIXTURES, 'torch')), ...expectedFiles(join(FIXTURES, 'arrays')), ...expectedFiles(join(FIXTURES, 'legacy_tar'))];
test('there are fixtures of every format to check', () => {
  const kinds = new Set(files.map((f) => (JSON.parse(readFileSync(f, 'utf8')) as Expected).format));
  for (const k of ['pytorch-zip', 'pytorch-legacy', 'pytorch-sharded', 'safetensors', 'safetensors-sharded', 'npy', 'npz']) assert.ok(kinds.has(k), k);
});

for (const file of files) {
  const target = file.slice(0, -'.expected.json'.length);
  test(`ckpt-lens inspect --stats --json matches the reference: ${relative(FIXTURES, target)}`, async () => {
    const want = JSON.parse(readFileSync(file, 'utf8')) as Expected;
    const { code, stdout, stderr } = await cli('inspect', target, '--stats', '--histogram', '--json', '--threads', '1');
    assert.equal(code, 0, stderr);
    const got = JSON.parse(stdout) as CliOutput;
    assert.equal(got.format, want.format);
    if (want.stateDictPrefix !== undefined) assert.equal(got.stateDictPrefix, want.stateDictPrefix);
    assert.deepEqual(got.tensors.map((t) => t.name), want.tensors.map((t) => t.name));
    for (const [i, w] of want.tensors.entries()) {
      const g = got.tensors[i];
      assert.equal(g.dtype, w.dtype, w.name);
      assert.deepEqual(g.shape, w.shape, w.name);
      if (w.sharesStorageWith) assert.deepEqual([...(g.sharesStorageWith ?? [])].sort(), [...w.sharesStorageWith].sort(), w.name);
      if (!/^C/.test(w.dtype)) assertStats(g.stats, w.stats, `${relative(FIXTURES, target)} ${w.name}`);
    }
  });
}

test('statistics on two threads equal those on one', async () => {
  const target = join(FIXTURES, 'torch', 'nested_training.pt');
  const one = JSON.parse((await cli('inspect', target, '--stats', '--histogram', '--json', '--threads', '1')).stdout) as CliOutput;
  const two = JSON.parse((await cli('inspect', target, '--stats', '--histogram', '--json', '--threads', '2')).stdout) as CliOutput;
  assert.deepEqual(two, one);
});

test('bad input: non-zero exit and one stderr line naming the file and the problem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-cli-'));
  const cases: [string, Uint8Array | string, RegExp][] = [
    ['garbage.safetensors', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), /header/i],
    ['huge_header.safetensors', Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x7f]), Buffer.from('{}')]), /header/i],
    ['empty.pt', new Uint8Array(0), /empty/],
    ['text.pt', 'not a checkpoint at all', /not a recognised checkpoint/],
  ];
  for (const [name, content, pattern] of cases) {
    const p = join(dir, name);
    writeFileSync(p, content);
    const { code, stdout, stderr } = await cli('inspect', p, '--json');
    assert.notEqual(code, 0, name);
    assert.equal(stdout, '', name);
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${name}: ${stderr}`);
    assert.ok(lines[0].includes(p), `${name}: ${lines[0]}`);
    assert.match(lines[0], pattern, name);
  }
  const missing = await cli('inspect', join(dir, 'nope.safetensors'));
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /nope\.safetensors: cannot open/);
  const malicious = join(FIXTURES, 'torch', 'malicious');
  // Malicious pickles open (nothing is executed) with the danger on stderr and in the JSON.
  for (const name of readdirSync(malicious).filter((n) => n !== 'manifest.json')) {
    const { code, stdout, stderr } = await cli('inspect', join(malicious, name), '--json');
    if (name === 'garbage_data_pkl.pt') {
      assert.notEqual(code, 0, name);
      assert.match(stderr, /data\.pkl/, `${name}: ${stderr}`);
      continue;
    }
    assert.equal(code, 0, `${name}: ${stderr}`);
    assert.match(stderr, /^ckpt-lens: warning: DANGEROUS: loading this file with torch\.load would call \S+\(.*pwned/, `${name}: ${stderr}`);
    assert.equal(JSON.parse(stdout).risk.verdict, 'dangerous', name);
  }
  const usage = await cli('frobnicate');
  assert.equal(usage.code, 2);
});
