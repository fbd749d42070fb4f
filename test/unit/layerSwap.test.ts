// Layer-swap matrix (src/analysis/sets/layerSwap.ts, runSwap.ts) against PyTorch
// (test/fixtures/swap/make_swap_reference.py): blocks i and j exchanged in the module list for
// every pair, and windows of three reversed, on the model fixtures' fixed batches; the swap
// groups the IR derives; the CLI's JSON; the view. And the dropping strategies added with it
// (symmetric, influence, span against PyTorch; random's draws).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initBackend } from '../../src/analysis/model/backend';
import { openModel } from '../../src/analysis/model/openModel';
import { reorderBlocks, swapBlocks, swapGroups } from '../../src/analysis/sets/layerSwap';
import { type SwapReport, runSwap } from '../../src/analysis/sets/runSwap';
import { swapView } from '../../src/analysis/views/swapView';
import { runDrop } from '../../src/analysis/dropping/runDrop';
import { dropSets } from '../../src/analysis/dropping/strategies';
import { dropView } from '../../src/analysis/views/dropView';
import { REPO_ROOT, fixture } from '../helpers';
import { checkView } from '../viewCheck';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const expected = JSON.parse(readFileSync(fixture('swap', 'expected.json'), 'utf8')) as Record<string, {
  blocks: string[]; baseline: { loss: number; accuracy: number }; loss: number[][]; accuracy: number[][]; windows: { start: number; loss: number; accuracy: number }[];
  drops: { strategy: string; k: number; start: number | null; dropped: string[]; loss: number; accuracy: number }[];
}>;
const M = (name: string, ext = 'safetensors'): string => fixture('models', `${name}.${ext}`);
const FILES: Record<string, string> = { resnet_basic: M('resnet_basic'), gpt2_hf: M('gpt2_hf'), nanogpt: M('nanogpt', 'pt') };

before(async () => {
  await initBackend('wasm');
});

describe('swap matrix equals PyTorch with the modules reordered', () => {
  for (const [name, want] of Object.entries(expected)) {
    test(`${name}: every pair and every reversed window`, async () => {
      const r = await runSwap({ model: FILES[name], data: M(name, 'batch.npz') });
      assert.deepEqual(r.blocks, want.blocks);
      r.loss.forEach((row, i) => row.forEach((v, j) => {
        assert.ok(Math.abs(v! - want.loss[i][j]) <= 1e-4 * Math.max(1, want.loss[i][j]), `loss[${i}][${j}] ${v} vs ${want.loss[i][j]}`);
        assert.ok(Math.abs(r.accuracy[i][j]! - want.accuracy[i][j]) < 1e-9, `accuracy[${i}][${j}]`);
      }));
      assert.equal(r.windows.length, want.windows.length);
      r.windows.forEach((w, k) => assert.ok(Math.abs(w.loss - want.windows[k].loss) <= 1e-4 * Math.max(1, w.loss)));
      await checkView(swapView(r));
    });
  }
});

describe('swap groups from the IR', () => {
  test('same-structure residual blocks group; swapping twice restores; a non-permutation is refused', async () => {
    const m = await openModel(FILES.nanogpt);
    try {
      const groups = swapGroups(m.graph, m.stateDict);
      assert.deepEqual(groups.map((g) => g.blocks), [['transformer.h.0', 'transformer.h.1', 'transformer.h.2']]);
      const once = swapBlocks(m.graph, m.stateDict, 'transformer.h.0', 'transformer.h.2');
      const name = [...m.stateDict.keys()].find((k) => k.startsWith('transformer.h.0.'))!;
      assert.equal(once.get(name), m.stateDict.get(name.replace('h.0.', 'h.2.')));
      const twice = swapBlocks(m.graph, once, 'transformer.h.0', 'transformer.h.2');
      for (const [k, v] of m.stateDict) assert.equal(twice.get(k), v);
      assert.throws(() => reorderBlocks(m.graph, m.stateDict, ['transformer.h.0'], ['transformer.h.9']), /not among/);
    } finally {
      m.model.dispose();
    }
  });
  test('a network without two same-structure residual blocks gets a clear error', async () => {
    await assert.rejects(runSwap({ model: M('mlp'), data: M('mlp', 'batch.npz') }), /no two residual blocks/);
  });
});

test('CLI swap --json', async () => {
  const { stdout } = await run('node', [CLI, 'swap', FILES.nanogpt, '--data', M('nanogpt', 'batch.npz'), '--json']);
  const r = JSON.parse(stdout) as SwapReport;
  assert.deepEqual(r.blocks, expected.nanogpt.blocks);
  assert.equal(r.loss.length, 3);
});

describe('dropping strategies: symmetric, influence, span (PyTorch) and random', () => {
  for (const [name, want] of Object.entries(expected)) {
    test(`${name}: every configuration equals PyTorch with the blocks replaced by identities`, async () => {
      const r = await runDrop({ model: FILES[name], data: M(name, 'batch.npz'), strategies: ['symmetric', 'influence', 'span', 'random'], seeds: 3 });
      for (const w of want.drops) {
        const got = r.results.find((x) => x.strategy === w.strategy && x.k === w.k && (w.start === null || x.start === w.start));
        assert.ok(got, `${w.strategy} k=${w.k} start=${w.start}`);
        assert.deepEqual(got.dropped, w.dropped, `${w.strategy} k=${w.k}`);
        assert.ok(Math.abs(got.loss - w.loss) <= 1e-4 * Math.max(1, w.loss), `${w.strategy} k=${w.k}: ${got.loss} vs ${w.loss}`);
        assert.ok(Math.abs(got.accuracy - w.accuracy) < 1e-9);
      }
      assert.equal(r.results.filter((x) => x.strategy === 'random').length, 3 * want.blocks.length);
      await checkView(dropView(r));
    });
  }
  test('definitions on 6 blocks', () => {
    const b = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5'];
    assert.deepEqual(dropSets(b, 'symmetric').map((s) => s.dropped), [['b2'], ['b2', 'b3'], ['b1', 'b2', 'b3'], ['b1', 'b2', 'b3', 'b4'], ['b0', 'b1', 'b2', 'b3', 'b4'], b]);
    assert.equal(dropSets(b, 'span').length, 21);
    assert.deepEqual(dropSets(b, 'span').filter((s) => s.k === 2).map((s) => s.start), [0, 1, 2, 3, 4]);
    const rnd = dropSets(b, 'random', [], { seeds: 4 });
    assert.equal(rnd.length, 24);
    for (const s of rnd) {
      assert.equal(new Set(s.dropped).size, s.k);
      assert.deepEqual(s.dropped, [...s.dropped].sort());
    }
    assert.deepEqual(dropSets(b, 'random', [], { seeds: 4 }), rnd, 'seeded: the same draws every time');
    assert.ok(new Set(rnd.filter((s) => s.k === 2).map((s) => s.dropped.join())).size > 1, 'seeds differ');
    assert.throws(() => dropSets(b, 'influence'), /block-influence ranking/);
  });
});
