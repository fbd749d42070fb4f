// Peak memory and time of listing adversarially large files (issue #12: "peak memory must stay
// under 1 GB for any input"; "a valid file with a million tensors" must open), ours
// (`ckpt-lens inspect --json`, output drained to /dev/null; and the editor's way, a reader worker
// thread sending the listing back: bench/ours_reader.ts) and the reference loader on the same
// file, one run each:
//   million_tensors.pt           torch.save of 1 000 000 tensors: a million storages, a million zip members → opens
//   million_views.pt             1 000 000 views of one storage                                          → opens
//   cap_views_1600000.pt         1 600 000 views of one storage (the pickle's tensor cap)               → opens
//   million_tensors.safetensors  a header listing 1 000 000 tensors                                      → opens
//   metadata_10m.safetensors     `__metadata__` holding a 10 000 000-element array                       → refused (not str→str)
// Peak RSS from /usr/bin/time; the reference is torch.load(weights_only=True, mmap=True) or
// safetensors' safe_open(...).keys() in the fixtures venv. Exits 1 if any of ours reaches 1 GB, or
// if a file that must open is refused.
// Usage: npm run bench:memory   (needs /work/.venv-fixtures, or PYTHON=… with torch and safetensors)
// Inputs (git-ignored, ~1 GB) are generated once into bench/data/ by bench/make_memory_bench.py.
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const data = join(root, 'bench', 'data');
const py = process.env.PYTHON ?? '/work/.venv-fixtures/bin/python';
const cli = join(root, 'dist', 'cli.js');
const LIMIT_MB = 1024;
const reader = join(root, 'bench', 'out', 'ours_reader.js');
await esbuild.build({ entryPoints: [join(root, 'bench', 'ours_reader.ts')], bundle: true, platform: 'node', target: 'node20', outfile: reader, logLevel: 'warning' });

console.log('generating inputs (once)…');
const gen = spawnSync(py, [join(root, 'bench', 'make_memory_bench.py'), data], { stdio: 'inherit' });
if (gen.status !== 0) process.exit(gen.status ?? 1);

/** Peak RSS in MB, seconds, exit code and the first stderr line of a command. */
function measure(cmd, args) {
  const t0 = Date.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  const text = r.stderr.replace(/MAXRSS \d+\n?/, '').replace(/Command exited with non-zero status \d+\n?/, '').trim();
  return { mb: m ? Number(m[1]) / 1024 : NaN, s: (Date.now() - t0) / 1000, code: r.status, line: text.split('\n').filter(Boolean).pop() ?? '' };
}

const REF = {
  pt: "import sys, torch; d = torch.load(sys.argv[1], weights_only=True, mmap=True); print(len(d))",
  safetensors: "import sys; from safetensors import safe_open\nwith safe_open(sys.argv[1], 'pt') as f: print(len(list(f.keys())))",
};
/** Each input and whether it must open (the rest must be refused with one clear line). */
const files = [['million_tensors.pt', true], ['million_views.pt', true], ['cap_views_1600000.pt', true], ['million_tensors.safetensors', true], ['metadata_10m.safetensors', false]];
const rows = [];
let over = false;
let wrong = false;
for (const [f, opens] of files) {
  const path = join(data, f);
  const ours = measure(process.execPath, [cli, 'inspect', path, '--json']);
  const editor = measure(process.execPath, [reader, path]);
  const ref = measure(py, ['-c', REF[f.endsWith('.pt') ? 'pt' : 'safetensors'], path]);
  over ||= !(ours.mb < LIMIT_MB) || !(editor.mb < LIMIT_MB);
  wrong ||= (ours.code === 0) !== opens || (editor.code === 0) !== opens;
  rows.push([
    f,
    `${ours.mb.toFixed(0)} MB`,
    `${ours.s.toFixed(1)} s`,
    ours.code === 0 ? 'opens' : `refused: ${ours.line.replace(/^ckpt-lens: [^:]*: /, '').slice(0, 90)}`,
    `${editor.mb.toFixed(0)} MB, ${editor.s.toFixed(1)} s`,
    `${ref.mb.toFixed(0)} MB`,
    `${ref.s.toFixed(1)} s`,
    ref.code === 0 ? 'loads' : `fails: ${ref.line.slice(0, 60)}`,
    `${(ours.mb / ref.mb).toFixed(2)}×`,
  ]);
}
const head = ['file', 'ours peak', 'ours time', 'ours', 'editor reader', 'reference peak', 'ref time', 'reference', 'peak ratio'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
console.log(over ? `\nFAIL: a peak reached ${LIMIT_MB} MB` : `\nevery peak under ${LIMIT_MB} MB`);
if (wrong) console.log('FAIL: a file that must open was refused, or one that must be refused opened');
process.exit(over || wrong ? 1 : 0);
