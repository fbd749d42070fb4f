// Hardening of the readers (issue #12): files that are not regular files, safetensors headers
// whose first byte looks like a pickle marker, zip archives two readers would read differently,
// mutated stored bytes (CRC-32), memory and CPU bombs, and the CLI's output through a slow pipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { crc32 as zcrc32 } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { CheckpointError } from '../../src/analysis/core/errors';
import { openCheckpoint } from '../../src/analysis/open';
import { ZipArchive } from '../../src/analysis/formats/zip';
import { PICKLE_LIMITS } from '../../src/analysis/formats/pickle';
import { FileSource, MemorySource } from '../../src/analysis/io/byteSource';
import { readTorch } from '../../src/analysis/formats/torch';
import { computeTensorStats } from '../../src/analysis/stats/tensorStats';
import { REPO_ROOT, bytes, fixture } from '../helpers';
import { makeZip } from '../zipBuilder';
import { CountingSource } from '../workCounter';

const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function tmp(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-hard-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, pattern);
    assert.ok(!/undefined|NaN|\[object /.test(e.message), e.message);
    return true;
  });
}

test('named pipes and devices are refused at once, never read', async () => {
  const t = tmp();
  try {
    const fifo = join(t.dir, 'pipe.pt');
    execFileSync('mkfifo', [fifo]);
    await refused(openCheckpoint(fifo), /not a regular file \(a named pipe\)/);
    await refused(FileSource.open(fifo), /not a regular file/);
    await refused(openCheckpoint('/dev/zero'), /not a regular file \(a device\)/);
  } finally {
    t.done();
  }
});

test('safetensors headers of any length open, including those whose first byte is 0x80 (640, 896, 1152, 1408 bytes)', async () => {
  const t = tmp();
  try {
    for (const n of [640, 896, 1152, 1408, 65536 + 640, 2, 100]) {
      let json = '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}';
      if (n < json.length) json = '{}';
      const header = enc(json.padEnd(n, ' '));
      const len = new Uint8Array(8);
      new DataView(len.buffer).setBigUint64(0, BigInt(header.length), true);
      const data = json === '{}' ? new Uint8Array(0) : new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
      const p = join(t.dir, `h${n}.safetensors`);
      writeFileSync(p, bytes(len, header, data));
      const c = await openCheckpoint(p);
      assert.equal(c.format, 'safetensors', `header of ${n}`);
      assert.equal(c.tensors.length, json === '{}' ? 0 : 1);
      await c.close();
    }
  } finally {
    t.done();
  }
});

test('mutated bytes in a stored record fail its CRC-32 check, naming the member; never other numbers', async () => {
  const t = tmp();
  try {
    const src = fixture('torch', 'mlp_state_dict.pt');
    const raw = new Uint8Array(readFileSync(src));
    const zip = await ZipArchive.open(await FileSource.open(src));
    const rec = zip.get('mlp_state_dict/data/0')!;
    await zip.source.close();
    raw[rec.dataOffset + 5] ^= 0x40;
    const p = join(t.dir, 'mutated.pt');
    writeFileSync(p, raw);
    const c = await openCheckpoint(p);
    try {
      await refused(computeTensorStats(c.tensors[0]), /zip member "mlp_state_dict\/data\/0" fails its CRC-32 check/);
    } finally {
      await c.close();
    }
    // The same mutation in data.pkl is refused at open.
    const pkl = new Uint8Array(readFileSync(src));
    const z2 = await ZipArchive.open(await FileSource.open(src));
    const d = z2.get('mlp_state_dict/data.pkl')!;
    await z2.source.close();
    pkl[d.dataOffset + d.uncompressedSize - 3] ^= 0x01;
    writeFileSync(p, pkl);
    await refused(openCheckpoint(p), /data\.pkl" fails its CRC-32 check/);
  } finally {
    t.done();
  }
});

test('zip parser differentials: duplicate member names and a directory that disagrees with its end record are refused', async () => {
  const t = tmp();
  try {
    const data = new Uint8Array(new Float32Array([1, 2]).buffer);
    const pkl = readFileSync(fixture('torch', 'pickles', 'values_p2.pkl'));
    const dup = join(t.dir, 'dup.pt');
    writeFileSync(dup, makeZip([['a/data.pkl', pkl], ['a/data/0', data], ['a/data/0', new Uint8Array(8)]]));
    await refused(openCheckpoint(dup), /two members are named "a\/data\/0"/);
    const npz = join(t.dir, 'dup.npz');
    writeFileSync(npz, makeZip([['x.npy', new Uint8Array(10)], ['x.npy', new Uint8Array(10)]]));
    await refused(openCheckpoint(npz), /two members are named "x\.npy"/);
    // An end record counting fewer members than the directory holds.
    const z = makeZip([['a/data.pkl', pkl], ['a/data/0', data]]);
    const eocd = z.length - 22;
    new DataView(z.buffer, z.byteOffset).setUint16(eocd + 8, 1, true);
    new DataView(z.buffer, z.byteOffset).setUint16(eocd + 10, 1, true);
    const fewer = join(t.dir, 'fewer.pt');
    writeFileSync(fewer, z);
    await refused(openCheckpoint(fewer), /holds more members than its end record counts/);
  } finally {
    t.done();
  }
});

/** Peak RSS (from /usr/bin/time) of `ckpt-lens inspect FILE` in a child process, its exit code and stderr. */
function peakOf(file: string, ...flags: string[]): { peakMB: number; code: number; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', process.execPath, CLI, 'inspect', file, ...flags], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  return { peakMB: m ? Number(m[1]) / 1024 : NaN, code: r.status ?? -1, stderr: r.stderr.replace(/MAXRSS \d+\n?/, '').replace(/Command exited with non-zero status \d+\n?/, '').trim(), ms: Date.now() - t0 };
}

test('bombs stay under 1 GB: deflated records and npz members that inflate to gigabytes', async (t) => {
  const dir = tmp();
  try {
    const MB256 = 256 * 1024 * 1024;
    const zeros = deflateRawSync(new Uint8Array(MB256), { level: 1 });
    const zerosCrc = zcrc32(new Uint8Array(MB256)) >>> 0;
    // [name, bytes, declared size, crc]: a negative size stores the bytes as they are.
    const write = (name: string, entries: Array<[string, Uint8Array, number, number?]>): string => {
      const p = join(dir.dir, name);
      writeFileSync(p, makeZip(entries.map(([n, data, size, crc]) => [n, size < 0 ? data : { deflated: data, size, crc: crc ?? 0 }])));
      return p;
    };
    const pklFor = (n: number, numel: number): Uint8Array => {
      const parts: Array<string | Uint8Array> = ['\x80\x02}('];
      for (let i = 0; i < n; i++) parts.push(s(`w${i}`), tensorV2(String(i), numel, [numel], [1]));
      parts.push('u.');
      return bytes(...parts);
    };
    // Two honest 256 MiB records (each at the cap), statistics over both.
    const four = write('two.pt', [['b/data.pkl', pklFor(2, MB256 / 4), -1], ...Array.from({ length: 2 }, (_, i): [string, Uint8Array, number, number] => [`b/data/${i}`, zeros, MB256, zerosCrc])]);
    // Sixteen records each claiming 1 GiB: refused by size before anything is inflated.
    const claims = write('claims.pt', [['b/data.pkl', pklFor(16, (1 << 30) / 4), -1], ...Array.from({ length: 16 }, (_, i): [string, Uint8Array, number] => [`b/data/${i}`, zeros, 1 << 30])]);
    // An npz of four 256 MiB members: opening reads only their headers.
    const npyHeader = enc("{'descr': '<f4', 'fortran_order': False, 'shape': (67108864,), }".padEnd(117, ' ') + '\n');
    const npy = bytes('\x93NUMPY\x01\x00', [npyHeader.length & 255, npyHeader.length >> 8], npyHeader, new Uint8Array(MB256));
    const npyDeflated = deflateRawSync(npy, { level: 1 });
    const npz = write('bomb.npz', Array.from({ length: 4 }, (_, i): [string, Uint8Array, number, number] => [`a${i}.npy`, npyDeflated, npy.length, zcrc32(npy) >>> 0]));
    const report: string[] = [];
    const cases: Array<[string, string, string[], RegExp | undefined]> = [
      ['torch zip, 2 deflated 256 MiB records, --stats', four, ['--stats', '--threads', '1'], undefined],
      ['torch zip, 16 records claiming 1 GiB', claims, [], /inflates to 1073741824 bytes, more than the 268435456 allowed/],
      ['npz, 4 deflated 256 MiB members (listing)', npz, [], undefined],
    ];
    for (const [label, file, flags, refusal] of cases) {
      const r = peakOf(file, ...flags);
      report.push(`${label}: peak ${r.peakMB.toFixed(0)} MB, ${r.ms} ms, exit ${r.code}`);
      assert.ok(r.peakMB < 1024, `${label}: peak ${r.peakMB} MB`);
      if (refusal) {
        assert.equal(r.code, 1, label);
        assert.match(r.stderr, refusal);
        assert.equal(r.stderr.split('\n').length, 1, r.stderr);
      } else assert.equal(r.code, 0, `${label}: ${r.stderr}`);
    }
    t.diagnostic(report.join('; '));
  } finally {
    dir.done();
  }
});

// -- pickle pieces for the bombs --
const u32 = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const s = (text: string): Uint8Array => bytes('X', u32(enc(text).length), enc(text));
const tensorV2 = (key: string, numel: number, size: number[], stride: number[]): Uint8Array =>
  bytes(
    'ctorch._utils\n_rebuild_tensor_v2\n(',
    '(', s('storage'), 'ctorch\nFloatStorage\n', s(key), s('cpu'), 'J', u32(numel), 'tQ',
    'K', 0, '(', ...size.map((x) => bytes('J', u32(x))), 't', '(', ...stride.map((x) => bytes('J', u32(x))), 't',
    '\x89', 'ccollections\nOrderedDict\n)R', 'tR',
  );

/** Runs `fn` counting calls of the global BigInt (each a BigInt built from a number or a string). */
async function countBigIntCalls<T>(fn: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const original = globalThis.BigInt;
  let calls = 0;
  const counting = Object.setPrototypeOf((v: string | number | bigint | boolean) => {
    calls++;
    return original(v);
  }, original) as BigIntConstructor; // BigInt.asIntN and the rest through the prototype chain
  globalThis.BigInt = counting;
  try {
    return { result: await fn(), calls };
  } finally {
    globalThis.BigInt = original;
  }
}

test('CPU bombs: LONG4 integers are capped and parsed in one step each; ten thousand tensors on one storage read the file once and list 16 names each', async () => {
  const t = tmp();
  try {
    // 25 LONG4 integers in a list, of 4096 bytes each (the cap) and of 64. Parsing one byte at a
    // time (shift, or) builds a BigInt per byte, each longer than the last: quadratic in the
    // length. The BigInts built per integer must not grow with its length.
    const bigIntsBuilt = async (length: number): Promise<number> => {
      const big = new Uint8Array(length).fill(0x7f);
      const longs = bytes('\x80\x02]', '(', ...Array.from({ length: 25 }, () => bytes('\x8b', u32(length), big)), 'e.');
      const p = join(t.dir, `longs${length}.pt`);
      writeFileSync(p, makeZip([['l/data.pkl', longs]]));
      const { result, calls } = await countBigIntCalls(async () => {
        const c = await openCheckpoint(p);
        await c.close();
        return c.values;
      });
      const want = BigInt(`0x${'7f'.repeat(length)}`).toString();
      assert.deepEqual(Object.values(result), Array.from({ length: 25 }, () => want));
      return calls;
    };
    const [short, long] = [await bigIntsBuilt(64), await bigIntsBuilt(PICKLE_LIMITS.maxLongBytes)];
    assert.equal(long, short, `BigInts built for 25 integers: ${short} at 64 bytes each, ${long} at ${PICKLE_LIMITS.maxLongBytes}`);
    // One byte past the cap is refused before any parsing.
    const big = new Uint8Array(PICKLE_LIMITS.maxLongBytes);
    const over = join(t.dir, 'over.pt');
    writeFileSync(over, makeZip([['o/data.pkl', bytes('\x80\x02\x8b', u32(big.length + 1), big, 0, '.')]]));
    await refused(openCheckpoint(over), new RegExp(`integer of ${big.length + 1} bytes is too long`));
    // Ten thousand tensors on one 64 KB storage: the listing reads the file about once (the zip's
    // end records may be read twice; a storage read or checked per tensor would be 640 MB), and
    // the names listed beside each tensor are capped at 16 (a full list per tensor is 10⁸ names).
    const n = 10_000;
    const parts: Uint8Array[] = [bytes('\x80\x02}(')];
    for (let i = 0; i < n; i++) parts.push(s(`t${i}`), tensorV2('0', 16_384, [4], [1]));
    parts.push(enc('u.'));
    const zip = makeZip([['s/data.pkl', bytes(...parts)], ['s/data/0', new Uint8Array(65_536)]]);
    const src = new CountingSource(new MemorySource(zip, 'shared.pt'));
    const c = await readTorch(src, 'shared.pt');
    try {
      assert.equal(c.tensors.length, n);
      assert.ok(src.bytesRead <= zip.length + 65_536, `read ${src.bytesRead} bytes of a ${zip.length}-byte file`);
      assert.ok(c.tensors.every((x) => (x.sharesStorageWith?.length ?? 0) <= 16), 'shared-storage lists are capped');
      assert.equal(c.tensors.reduce((a, x) => a + (x.sharesStorageWith?.length ?? 0), 0), 16 * n);
    } finally {
      await c.close();
    }
  } finally {
    t.done();
  }
});

test('--json output over 1 MB arrives whole through a pipe drained slowly (every subcommand exits through the same flush)', async () => {
  const t = tmp();
  try {
    // A safetensors file with 20 000 tensors: its --json report is a few MB.
    const entries: string[] = [];
    for (let i = 0; i < 20_000; i++) entries.push(`"model.layers.${i}.self_attention.query_key_value.weight":{"dtype":"F32","shape":[1],"data_offsets":[${i * 4},${i * 4 + 4}]}`);
    const header = enc(`{${entries.join(',')}}`);
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(header.length), true);
    const p = join(t.dir, 'many.safetensors');
    writeFileSync(p, bytes(len, header, new Uint8Array(20_000 * 4)));
    // The reader is a separate process that takes 16 KiB every 5 ms, far slower than the CLI writes.
    const reader = join(t.dir, 'slow-reader.js');
    writeFileSync(reader, `const fs = require('fs'); const out = []; const buf = Buffer.alloc(16384);
function step() {
  let n;
  try { n = fs.readSync(0, buf, 0, buf.length, null); } catch (e) { if (e.code === 'EAGAIN') return setTimeout(step, 5); throw e; }
  if (n === 0) return fs.writeFileSync(process.argv[2], Buffer.concat(out));
  out.push(Buffer.from(buf.subarray(0, n)));
  setTimeout(step, 5);
}
step();`);
    const outFile = join(t.dir, 'out.json');
    const codeFile = join(t.dir, 'code');
    const q = (x: string): string => `'${x.replace(/'/g, "'\\''")}'`;
    const node = q(process.execPath);
    await new Promise<void>((resolve, reject) => {
      const sh = spawn('/bin/sh', ['-c', `(${node} ${q(CLI)} inspect ${q(p)} --json; echo $? > ${q(codeFile)}) | ${node} ${q(reader)} ${q(outFile)}`], { stdio: 'ignore' });
      sh.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pipeline exited ${code}`))));
    });
    const code = Number(readFileSync(codeFile, 'utf8').trim());
    const text = readFileSync(outFile, 'utf8');
    assert.equal(code, 0);
    assert.ok(text.length > 1 << 20, `${text.length} bytes`);
    const doc = JSON.parse(text) as { tensors: unknown[] };
    assert.equal(doc.tensors.length, 20_000);
  } finally {
    t.done();
  }
});

test('many storages: 20 000 stored members open with every value in place, a mutated one fails its CRC by name, and the counts past the caps are one clear line', async () => {
  const t = tmp();
  try {
    const n = 20_000;
    const parts: Uint8Array[] = [bytes('\x80\x02}(')];
    const members: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < n; i++) {
      parts.push(s(`layer${Math.floor(i / 100)}.unit${i % 100}`), tensorV2(String(i), 1, [1], [1]));
      members.push([`m/data/${i}`, new Uint8Array(new Float32Array([i]).buffer)]);
    }
    parts.push(enc('u.'));
    const zip = makeZip([['m/data.pkl', bytes(...parts)], ...members, ['m/version', enc('3\n')]]);
    const p = join(t.dir, 'many.pt');
    writeFileSync(p, zip);
    const c = await openCheckpoint(p);
    try {
      assert.equal(c.tensors.length, n);
      for (const i of [0, 1, 4321, n - 1]) {
        const tensor = c.tensors[i];
        assert.equal(tensor.name, `layer${Math.floor(i / 100)}.unit${i % 100}`);
        assert.deepEqual(tensor.shape, [1]);
        assert.equal((await computeTensorStats(tensor)).mean, i);
      }
      // Shapes and strides are shared, frozen arrays: a mutation throws instead of changing every tensor.
      assert.equal(c.tensors[0].shape, c.tensors[1].shape);
      assert.throws(() => (c.tensors[0].shape as number[]).push(2), TypeError);
    } finally {
      await c.close();
    }
    // One byte changed inside member 4321's payload: its tensor's read names the member.
    const at = Buffer.from(zip).indexOf(Buffer.from('m/data/4321')) + 'm/data/4321'.length;
    const bad = Uint8Array.from(zip);
    bad[at] ^= 0xff;
    writeFileSync(p, bad);
    const c2 = await openCheckpoint(p);
    try {
      await refused(computeTensorStats(c2.tensors[4321]), /zip member "m\/data\/4321" fails its CRC-32 check/);
      assert.equal((await computeTensorStats(c2.tensors[4320])).mean, 4320);
    } finally {
      await c2.close();
    }
  } finally {
    t.done();
  }
});

test('caps: more tensors than the pickle cap, or more zip members than the directory cap, are refused with one line', async () => {
  const t = tmp();
  const saved = PICKLE_LIMITS.maxTensors;
  try {
    PICKLE_LIMITS.maxTensors = 10;
    const parts: Uint8Array[] = [bytes('\x80\x02}(')];
    for (let i = 0; i < 11; i++) parts.push(s(`t${i}`), tensorV2('0', 16, [1], [1]));
    parts.push(enc('u.'));
    const p = join(t.dir, 'over.pt');
    writeFileSync(p, makeZip([['o/data.pkl', bytes(...parts)], ['o/data/0', new Uint8Array(64)]]));
    await refused(openCheckpoint(p), /more than 10 tensors \(a cap that keeps reading under 1 GB/);
    PICKLE_LIMITS.maxTensors = saved;
    // A ZIP64 end record claiming two million members (a directory cannot list them under the cap).
    const eocd64 = new Uint8Array(56);
    const v = new DataView(eocd64.buffer);
    v.setUint32(0, 0x06064b50, true);
    v.setBigUint64(4, 44n, true);
    v.setBigUint64(24, 2_000_000n, true);
    v.setBigUint64(32, 2_000_000n, true);
    v.setBigUint64(40, 100_000_000n, true);
    v.setBigUint64(48, 0n, true);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true);
    lv.setBigUint64(8, 0n, true);
    lv.setUint32(16, 1, true);
    const end = new Uint8Array(22);
    const ev = new DataView(end.buffer);
    ev.setUint32(0, 0x06054b50, true);
    ev.setUint16(8, 0xffff, true);
    ev.setUint16(10, 0xffff, true);
    ev.setUint32(12, 0xffffffff, true);
    ev.setUint32(16, 0xffffffff, true);
    const z = join(t.dir, 'members.pt');
    writeFileSync(z, bytes(eocd64, loc, end));
    await refused(ZipArchive.open(await FileSource.open(z)), /2000000 members is more than the 1600000 this reader accepts/);
  } finally {
    PICKLE_LIMITS.maxTensors = saved;
    t.done();
  }
});
