// GGUF and remote-reading benchmark, ours and the reference in one run:
//  1. Dequantization throughput (GB/s of float32 output) of every decoded ggml type against
//     gguf-py's numpy dequantize() on the same 2^24-value tensors (goal: ≥ 5× numpy).
//  2. Listing a 4 GB sharded safetensors model served from 127.0.0.1 by Range requests: time and
//     bytes fetched, against downloading the shards.
// Usage: npm run bench:gguf   (needs the fixtures venv with gguf-py: /work/.venv-fixtures, or PYTHON=…; ROUNDS=n, default 3;
//   TYPES=Q8_0,Q8_K only those types; PARTS=dequant or PARTS=remote only that part)
// Data (git-ignored) goes to bench/data/: the GGUF is generated once; the shards are sparse files.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, writeSync, createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const data = join(root, 'bench', 'data');
const py = process.env.PYTHON ?? '/work/.venv-fixtures/bin/python';
mkdirSync(data, { recursive: true });
const ggufPath = join(data, 'dequant.gguf');
if (!existsSync(ggufPath)) {
  console.log('generating the benchmark GGUF (once)…');
  execFileSync(py, [join(root, 'bench', 'make_gguf_bench.py'), ggufPath], { stdio: 'inherit' });
}
for (const [entry, out] of [['ours_dequant.ts', 'ours_dequant.js'], ['ours_remote.ts', 'ours_remote.js']]) {
  await esbuild.build({ entryPoints: [join(root, 'bench', entry)], bundle: true, platform: 'node', target: 'node20', outfile: join(root, 'bench', 'out', out), logLevel: 'warning' });
}
const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').pop());

// --- 1. dequantization ----------------------------------------------------------------------
// Both sides run ROUNDS times, alternating, so a burst of load on a shared machine hits both;
// each figure is the median over rounds (each round is itself the best of 3 per type).
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const parts = new Set((process.env.PARTS ?? 'dequant,remote').split(','));
if (parts.has('dequant')) {
  const refRuns = [], ourRuns = [];
  for (let r = 0; r < ROUNDS; r++) {
    refRuns.push(run(py, [join(root, 'bench', 'reference_dequant.py'), ggufPath]));
    ourRuns.push(run(process.execPath, [join(root, 'bench', 'out', 'ours_dequant.js'), ggufPath]));
  }
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const gb = (values, s) => (values * 4) / 1e9 / s;
  console.log(`\nDequantization, GB/s of float32 output (2^24 values per type; numpy ${refRuns[0].numpy}; median of ${ROUNDS} rounds, each the best of 3)`);
  console.log('CPU-time ratios count only the time each process ran, so they hold up better when other jobs share the cores.');
  console.log('type      numpy   ours (1 MiB pieces)  ratio  CPU-time ratio  ours (whole tensor)  ratio');
  const ratios = [], cpuRatios = [];
  for (const type of Object.keys(refRuns[0].types)) {
    const n = median(refRuns.map((x) => gb(x.types[type].values, x.types[type].s)));
    const a = median(ourRuns.map((x) => gb(x.types[type].values, x.types[type].s)));
    const w = median(ourRuns.map((x) => gb(x.types[type].values, x.types[type].whole_s)));
    const ratio = median(refRuns.map((x, i) => x.types[type].s / ourRuns[i].types[type].s));
    const cpuRatio = median(refRuns.map((x, i) => x.types[type].cpu_s / ourRuns[i].types[type].cpu_s));
    ratios.push(ratio);
    cpuRatios.push(cpuRatio);
    console.log(`${type.padEnd(8)} ${n.toFixed(2).padStart(6)}  ${a.toFixed(2).padStart(19)}  ${ratio.toFixed(1).padStart(5)}×  ${cpuRatio.toFixed(1).padStart(13)}×  ${w.toFixed(2).padStart(19)}  ${(w / n).toFixed(1).padStart(5)}×`);
  }
  const geomean = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
  console.log(`geometric mean ratio (pieces): ${geomean(ratios).toFixed(1)}× wall, ${geomean(cpuRatios).toFixed(1)}× CPU time; lowest ${Math.min(...ratios).toFixed(1)}× wall, ${Math.min(...cpuRatios).toFixed(1)}× CPU`);
  console.log('(whole tensor: a fresh 64 MB Float32Array per call, so first-touch page faults count; on VMs where they are slow this column measures the allocator, not the kernel)');
}

if (parts.has('remote')) {
  // --- 2. remote listing of a 4 GB sharded model -------------------------------------------------
  const shardDir = join(data, 'remote-4gb');
  mkdirSync(shardDir, { recursive: true });
  const weightMap = {};
  const SHARDS = 2, PER = 16, ROWS = 4096, COLS = 16384; // 16 BF16 tensors of 128 MiB per shard
  for (let s = 1; s <= SHARDS; s++) {
    const name = `model-0000${s}-of-0000${SHARDS}.safetensors`;
    const header = {};
    let off = 0;
    for (let i = 0; i < PER; i++) {
      const key = `model.layers.${(s - 1) * PER + i}.mlp.up_proj.weight`;
      header[key] = { dtype: 'BF16', shape: [ROWS, COLS], data_offsets: [off, off + ROWS * COLS * 2] };
      weightMap[key] = name;
      off += ROWS * COLS * 2;
    }
    const path = join(shardDir, name);
    if (!existsSync(path)) {
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      const fd = openSync(path, 'w');
      writeSync(fd, len);
      writeSync(fd, json);
      ftruncateSync(fd, 8 + json.length + off); // sparse: the tensors are a hole
      closeSync(fd);
    }
  }
  const index = Buffer.from(JSON.stringify({ metadata: { total_size: SHARDS * PER * ROWS * COLS * 2 }, weight_map: weightMap }));
  let sent = 0;
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url, 'http://x').pathname).slice(1);
    if (name === 'model.safetensors.index.json') {
      sent += index.length;
      res.writeHead(200, { 'Content-Length': index.length });
      res.end(index);
      return;
    }
    const path = join(shardDir, name);
    if (!existsSync(path)) { res.writeHead(404); res.end(); return; }
    const size = statSync(path).size;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0, end = m && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    res.writeHead(m ? 206 : 200, { 'Content-Length': end - start + 1, ETag: '"1"', ...(m ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}) });
    const stream = createReadStream(path, { start, end, highWaterMark: 1 << 20 });
    stream.on('data', (c) => (sent += c.length));
    stream.pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  const total = SHARDS * PER * ROWS * COLS * 2;

  const listing = await new Promise((resolve, reject) => {
    // The client runs in its own process, as the CLI or the worker would.
    import('node:child_process').then(({ execFile }) => execFile(process.execPath, [join(root, 'bench', 'out', 'ours_remote.js'), `${url}/model.safetensors.index.json`], { encoding: 'utf8' }, (e, out) => (e ? reject(e) : resolve(JSON.parse(out.trim())))));
  });
  sent = 0;
  const t0 = performance.now();
  for (let s = 1; s <= SHARDS; s++) {
    const res = await fetch(`${url}/model-0000${s}-of-0000${SHARDS}.safetensors`);
    for await (const _ of res.body) { /* discard */ }
  }
  const downloadS = (performance.now() - t0) / 1000;
  server.close();
  console.log(`\nRemote listing of a ${(total / 1e9).toFixed(1)} GB sharded safetensors model (${SHARDS} shards, ${listing.tensors} tensors) on 127.0.0.1`);
  console.log(`  range requests: ${listing.seconds.toFixed(3)} s, ${listing.bytes} bytes fetched`);
  console.log(`  downloading the shards: ${downloadS.toFixed(2)} s, ${sent} bytes  → listing is ${(downloadS / listing.seconds).toFixed(0)}× faster and fetches ${(sent / listing.bytes).toFixed(0)}× fewer bytes`);
}
