// Our side of the weight-matching benchmark: full weight matching (alignStateDicts, method
// weights) of two checkpoints, timed without file reading, repeated.
// Usage: node bench/out/ours_wm.js A B [runs] [backend] [seed]  -> one JSON line on stdout:
//   {"seconds": [...], "sweeps", "objective", "objectiveIdentity", "orders", "backend"}
// The objective is Eq. 2 of the paper: Σ over every tensor with a permuted axis of ⟨A, π(B)⟩, in
// float64 — the same sum bench/wm_reference.py reports.
import { alignStateDicts } from '../src/analysis/align/alignCheckpoint';
import type { PermutationSpec } from '../src/analysis/align/permutationSpec';
import { type BackendChoice, initBackend } from '../src/analysis/model/backend';
import { recognizeCheckpoint } from '../src/analysis/model/recognize';
import { type StateDict, loadStateDict } from '../src/analysis/model/stateDict';
import { openCheckpoint } from '../src/analysis/open';

async function load(path: string) {
  const ckpt = await openCheckpoint(path);
  try {
    const { graph } = await recognizeCheckpoint(ckpt);
    return { graph, sd: await loadStateDict(ckpt, graph) };
  } finally {
    await ckpt.close();
  }
}

function objective(spec: PermutationSpec, a: StateDict, b: StateDict): number {
  let s = 0;
  for (const k of new Set(spec.groups.flatMap((g) => g.members.map((m) => m.tensor)))) {
    const x = a.get(k)!.values, y = b.get(k)!.values;
    for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  }
  return s;
}

async function main(): Promise<void> {
  const [aPath, bPath, runsArg, backendArg, seedArg] = process.argv.slice(2);
  const backend = await initBackend((backendArg ?? 'auto') as BackendChoice);
  const a = await load(aPath);
  const b = await load(bPath);
  const seconds: number[] = [];
  let last;
  for (let r = 0; r < Number(runsArg ?? 1); r++) {
    const t0 = performance.now();
    last = await alignStateDicts(a.graph, a.sd, b.sd, { seed: Number(seedArg ?? 0) });
    seconds.push((performance.now() - t0) / 1000);
  }
  const r = last!;
  console.log(JSON.stringify({ seconds, sweeps: r.iterations, objective: objective(r.spec, a.sd, r.aligned), objectiveIdentity: objective(r.spec, a.sd, b.sd), orders: r.sweeps.map((s) => s.order), backend: backend.name }));
}
main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
