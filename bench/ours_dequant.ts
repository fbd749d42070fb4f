// Our dequantization kernels on every tensor of the benchmark GGUF: the stored bytes read into
// memory first (like the numpy reference), then best of 3 runs of the kernel over all blocks, in
// 1 MiB-of-output pieces as the readers call it (wall and CPU time), and into one fresh whole-tensor array. Prints one JSON line {type: {s, cpu_s, whole_s, values}}.
// TYPES=Q8_0,Q8_K limits it to those types.
import { openCheckpoint } from '../src/analysis/open';

async function main(path: string): Promise<void> {
  const c = await openCheckpoint(path);
  const out: Record<string, { s: number; cpu_s: number; whole_s: number; values: number }> = {};
  const only = process.env.TYPES ? new Set(process.env.TYPES.split(',')) : undefined;
  for (const t of c.tensors) {
    const q = t.quant!;
    if (only && !only.has(q.type)) continue;
    const raw = await t.location.source.read(t.location.storageByteOffset, t.nbytes);
    const perCall = Math.max(1, Math.floor((1 << 20) / 4 / q.blockElems));
    const buf = new Float32Array(perCall * q.blockElems);
    const blocks = t.numel / q.blockElems;
    let best = Infinity, cpuBest = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = performance.now(), c0 = process.cpuUsage();
      for (let b = 0; b < blocks; b += perCall) {
        const n = Math.min(perCall, blocks - b);
        q.kernel!(raw.subarray(b * q.blockBytes, (b + n) * q.blockBytes), n, buf);
      }
      best = Math.min(best, (performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      cpuBest = Math.min(cpuBest, (c.user + c.system) / 1e6);
    }
    // The whole tensor into one fresh array, as numpy produces it.
    let whole = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = performance.now();
      q.kernel!(raw, blocks, new Float32Array(t.numel));
      whole = Math.min(whole, (performance.now() - t0) / 1000);
    }
    out[q.type] = { s: best, cpu_s: cpuBest, whole_s: whole, values: t.numel };
  }
  await c.close();
  process.stdout.write(JSON.stringify({ types: out }) + '\n');
}

void main(process.argv[2]);
