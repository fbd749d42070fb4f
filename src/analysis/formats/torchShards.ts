// Hugging Face sharded PyTorch checkpoints: `pytorch_model.bin.index.json`
// (`{metadata, weight_map: {tensor name: shard file}}`) plus `pytorch_model-0000k-of-0000n.bin`
// shards, opened together as one model. Shards are parsed once (zip directory + data.pkl) and
// their files are then reopened on demand through a small pool, so a 10 000-shard model does
// not hold 10 000 file descriptors.
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Checkpoint, type TensorInfo, type Value, linkSharedStorages } from '../core/checkpoint';
import { CheckpointError } from '../core/errors';
import { type ByteSource, FileSource, MAX_SINGLE_READ } from '../io/byteSource';
import { valueObject } from './pickle';
import { readTorch } from './torch';

const MAX_INDEX_BYTES = 256 * 1024 * 1024;
const MAX_SHARDS = 10_000;
/** File handles kept open at once across all shards. */
const MAX_OPEN_HANDLES = 16;

export async function openTorchShards(indexPath: string): Promise<Checkpoint> {
  const { metadata: indexMeta, shards } = await readIndex(indexPath);
  const dir = dirname(indexPath);
  const pool = new HandlePool(MAX_OPEN_HANDLES);
  const warnings: string[] = [];
  const tensors: TensorInfo[] = [];
  const values: Record<string, Value> = valueObject();
  try {
    for (const [shard, names] of shards) {
      const shardPath = join(dir, shard);
      let size: number;
      try {
        const st = await fsp.stat(shardPath);
        if (!st.isFile()) throw new Error('not a regular file');
        size = st.size;
      } catch (e) {
        throw new CheckpointError(indexPath, `shard ${shard} is missing or unreadable (${(e as Error).message})`);
      }
      const ckpt = await readTorch(new PooledFileSource(shardPath, size, pool), shardPath, { storageIdPrefix: `${shard}:` });
      const listed = new Set(names);
      let unlisted = 0;
      for (const t of ckpt.tensors) {
        if (listed.delete(t.name)) {
          t.sharesStorageWith = undefined;
          tensors.push(t);
        } else unlisted++;
      }
      if (unlisted) warnings.push(`${shard}: ${unlisted} tensor(s) not assigned to this shard by the index were skipped`);
      if (listed.size) {
        const some = [...listed].slice(0, 5).join(', ');
        warnings.push(`${shard}: ${listed.size} tensor(s) the index assigns to this shard are not in it (${some}${listed.size > 5 ? ', …' : ''})`);
      }
      for (const w of ckpt.warnings) warnings.push(`${shard}: ${w}`);
      for (const [k, v] of Object.entries(ckpt.values)) values[k] = v;
    }
  } catch (e) {
    await pool.closeAll();
    throw e;
  }
  linkSharedStorages(tensors);

  const metadata: Record<string, Value> = valueObject();
  for (const [k, v] of Object.entries(indexMeta)) metadata[k] = v;
  metadata.shards = [...shards.keys()];
  return {
    path: indexPath,
    format: 'pytorch-sharded',
    metadata,
    values,
    tensors,
    stateDictPrefix: '',
    warnings,
    close: () => pool.closeAll(),
  };
}

interface Index {
  /** Scalar entries of the index's `metadata` (total_size…). */
  metadata: Record<string, Value>;
  /** Shard file → tensor names, shards in name order. */
  shards: Map<string, string[]>;
}

async function readIndex(indexPath: string): Promise<Index> {
  let text: string;
  try {
    const st = await fsp.stat(indexPath);
    if (st.size > MAX_INDEX_BYTES) throw new CheckpointError(indexPath, `shard index of ${st.size} bytes is larger than the ${MAX_INDEX_BYTES} accepted`);
    text = await fsp.readFile(indexPath, 'utf8');
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(indexPath, `cannot read the shard index: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(indexPath, `the shard index is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc) || !isObject(doc.weight_map)) throw new CheckpointError(indexPath, 'the shard index has no "weight_map" object');

  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(doc.weight_map)) {
    if (typeof shard !== 'string') throw new CheckpointError(indexPath, `weight_map["${name.slice(0, 100)}"] is not a file name`);
    const problem = shardNameProblem(shard);
    if (problem) throw new CheckpointError(indexPath, `refusing shard name "${shard.slice(0, 200)}": ${problem}`);
    let names = byShard.get(shard);
    if (!names) {
      if (byShard.size >= MAX_SHARDS) throw new CheckpointError(indexPath, `the index names more than ${MAX_SHARDS} shards`);
      byShard.set(shard, (names = []));
    }
    names.push(name);
  }
  if (byShard.size === 0) throw new CheckpointError(indexPath, 'the shard index lists no tensors');

  const metadata: Record<string, Value> = valueObject();
  if (isObject(doc.metadata)) {
    for (const [k, v] of Object.entries(doc.metadata)) {
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') metadata[k] = v;
    }
  }
  const shards = new Map([...byShard].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { metadata, shards };
}

/** Shard names must stay inside the index's folder. */
function shardNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty';
  if (name.includes('..')) return 'contains ".."';
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) return 'absolute path';
  if (name.includes('://')) return 'a URL';
  if (name.includes('\0')) return 'contains a NUL character';
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// --- file handles opened on demand ---------------------------------------------------------

/** Keeps at most `max` idle handles open, closing the least recently used first. */
class HandlePool {
  private readonly lru: PooledFileSource[] = [];
  constructor(private readonly max: number) {}

  touch(s: PooledFileSource): void {
    const i = this.lru.indexOf(s);
    if (i >= 0) this.lru.splice(i, 1);
    this.lru.push(s);
  }

  async trim(): Promise<void> {
    for (let i = 0; this.lru.length > this.max && i < this.lru.length; ) {
      const s = this.lru[i];
      if (s.busy) {
        i++;
        continue;
      }
      this.lru.splice(i, 1);
      await s.release();
    }
  }

  forget(s: PooledFileSource): void {
    const i = this.lru.indexOf(s);
    if (i >= 0) this.lru.splice(i, 1);
  }

  async closeAll(): Promise<void> {
    const all = this.lru.splice(0);
    await Promise.all(all.map((s) => s.release()));
  }
}

/** A file opened on first read and closed by the pool when idle; reopened as needed. */
class PooledFileSource implements ByteSource {
  private file: Promise<FileSource> | undefined;
  private inflight = 0;

  constructor(
    readonly label: string,
    readonly size: number,
    private readonly pool: HandlePool,
  ) {}

  get busy(): boolean {
    return this.inflight > 0;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_SINGLE_READ) {
      throw new CheckpointError(this.label, `refusing a read of ${length} bytes`);
    }
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    this.inflight++;
    try {
      if (!this.file) {
        const opening = FileSource.open(this.label);
        this.file = opening;
        opening.catch(() => {
          if (this.file === opening) this.file = undefined;
        });
      }
      const f = await this.file;
      if (f.size !== this.size) throw new CheckpointError(this.label, `the file changed size on disk (${this.size} → ${f.size} bytes)`);
      this.pool.touch(this);
      await f.readInto(offset, target);
    } finally {
      this.inflight--;
      await this.pool.trim();
    }
  }

  /** Closes the file; the next read reopens it. */
  async release(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    if (f) await f.then((x) => x.close()).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.pool.forget(this);
    await this.release();
  }
}
