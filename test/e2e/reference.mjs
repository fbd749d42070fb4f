// Reference values for the integration and e2e tests, computed here without any of the
// extension's code: a 30-line safetensors reader and plain float64 statistics. The demo's
// mlp_seed0.pt holds the same state dict as mlp_seed0.safetensors (demo/make_demo_checkpoints.py).
import { closeSync, ftruncateSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

const DTYPES = { F32: [4, (b, o) => b.readFloatLE(o)], F64: [8, (b, o) => b.readDoubleLE(o)] };

/** The tensors of a (float32/float64) safetensors file, in file order, with their values. */
export function readSafetensors(path) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const tensors = [];
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dt = DTYPES[h.dtype];
    if (!dt) throw new Error(`reference reader: dtype ${h.dtype} not supported`);
    const [size, read] = dt;
    const [a, b] = h.data_offsets;
    const values = new Float64Array((b - a) / size);
    for (let i = 0; i < values.length; i++) values[i] = read(buf, base + a + i * size);
    tensors.push({ name, dtype: h.dtype, shape: h.shape, numel: values.length, nbytes: b - a, values });
  }
  tensors.sort((x, y) => header[x.name].data_offsets[0] - header[y.name].data_offsets[0]);
  return { metadata: header.__metadata__ ?? {}, tensors };
}

/** count, mean, sample std (n-1), min, max, zeros over the finite values (float64). */
export function refStats(values) {
  let n = 0, sum = 0, min = Infinity, max = -Infinity, zeros = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    n++; sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v === 0) zeros++;
  }
  const mean = n ? sum / n : null;
  let ss = 0;
  for (const v of values) if (Number.isFinite(v)) ss += (v - mean) ** 2;
  return { count: values.length, mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : null, min: n ? min : null, max: n ? max : null, zeros };
}

/** |a - b| <= rel * max(|a|, |b|) + abs */
export function close(a, b, rel = 1e-5, abs = 1e-7) {
  if (a === null || b === null || a === undefined || b === undefined) return a === b;
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + abs;
}

/**
 * Writes a float32 safetensors file of `tensors` tensors of `mb` MiB each whose data is a hole
 * (a sparse file: all zeros, no disk used, written at once). Its statistics take seconds, so a
 * test can cancel them; above 4 GB (checkpointLens.statistics.maxAutoBytes) they do not start
 * by themselves. Returns the file's size.
 */
export function writeSparseSafetensors(path, tensors, mb) {
  const header = {};
  const bytes = mb * 1024 * 1024;
  for (let i = 0; i < tensors; i++) {
    header[`layers.${i}.weight`] = { dtype: 'F32', shape: [bytes / 4 / 1024, 1024], data_offsets: [i * bytes, (i + 1) * bytes] };
  }
  let h = Buffer.from(JSON.stringify(header), 'utf8');
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length), 0);
  const size = 8 + h.length + tensors * bytes;
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, h);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return size;
}

/** numpy.histogram(values, bins) over [min, max] of the finite values (last bin closed). */
export function refHistogram(values, bins = 64) {
  const s = refStats(values);
  const counts = new Array(bins).fill(0);
  if (s.min === null) return counts;
  const w = (s.max - s.min) / bins;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    const i = w > 0 ? Math.min(bins - 1, Math.floor((v - s.min) / w)) : 0;
    counts[i]++;
  }
  return counts;
}

/**
 * A real (not sparse) safetensors file of `tensors` F32 matrices rows × cols of seeded uniform
 * noise in [−0.5, 0.5), written at test time (8 × 8192 × 4096 = 1 GiB for the large-file case).
 */
export function writeRandomSafetensors(path, tensors, rows, cols) {
  const header = {};
  const bytes = rows * cols * 4;
  for (let i = 0; i < tensors; i++) header[`layers.${i}.weight`] = { dtype: 'F32', shape: [rows, cols], data_offsets: [i * bytes, (i + 1) * bytes] };
  let h = Buffer.from(JSON.stringify(header), 'utf8');
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length), 0);
  const fd = openSync(path + '.tmp', 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, h);
    const block = new Float32Array(rows * cols);
    let s = 0x9e3779b9;
    for (let t = 0; t < tensors; t++) {
      for (let i = 0; i < block.length; i++) {
        s ^= s << 13; s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5; s >>>= 0;
        block[i] = s / 4294967296 - 0.5;
      }
      writeSync(fd, new Uint8Array(block.buffer));
    }
  } finally {
    closeSync(fd);
  }
  renameSync(path + '.tmp', path);
  return 8 + h.length + tensors * bytes;
}
