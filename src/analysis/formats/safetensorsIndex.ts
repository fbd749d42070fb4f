// Sharded safetensors: `*.safetensors.index.json` = {"metadata": {...}, "weight_map": {tensor: shard}}.
// Each shard's header is read and validated; the model is the union of the mapped tensors.
// Shards are reopened on demand through a small pool, so a 10 000-shard model does not hold
// 10 000 file descriptors.
import { dirname, isAbsolute, join } from 'node:path';
import type { Checkpoint, TensorInfo, Value } from '../core/checkpoint';
import { CheckpointError } from '../core/errors';
import { type ByteSource, FileSource } from '../io/byteSource';
import { readSafetensorsHeader } from './safetensors';

export const MAX_INDEX_BYTES = 100 * 1024 * 1024;
export const MAX_SHARDS = 10_000;
/** Shard files kept open at once; older idle ones are closed and reopened when read again. */
const MAX_OPEN_SHARDS = 64;
/** Shard headers read in parallel while opening. */
const OPEN_CONCURRENCY = 8;

export async function openSafetensorsIndex(indexPath: string): Promise<Checkpoint> {
  const index = await readIndex(indexPath);
  const dir = dirname(indexPath);
  const pool = new ShardPool(MAX_OPEN_SHARDS);
  const warnings: string[] = [];

  // Group the mapped tensor names by shard, keeping the index's order of first mention.
  const byShard = new Map<string, Set<string>>();
  for (const [tensor, shard] of index.weightMap) {
    let names = byShard.get(shard);
    if (!names) byShard.set(shard, (names = new Set()));
    names.add(tensor);
  }
  const shards = [...byShard.keys()].sort();

  try {
    const perShard = await mapLimited(shards, OPEN_CONCURRENCY, async (shard) => {
      const mapped = byShard.get(shard)!;
      const source = await pool.source(join(dir, shard)).catch((e: unknown) => {
        const example = mapped.values().next().value as string;
        throw new CheckpointError(indexPath, `shard ${JSON.stringify(shard)} (holds ${mapped.size} mapped tensors, e.g. ${JSON.stringify(example)}) cannot be opened: ${(e as CheckpointError).problem ?? (e as Error).message}`);
      });
      const header = await readSafetensorsHeader(source);
      const kept: TensorInfo[] = [];
      let extra = 0;
      for (const t of header.tensors) {
        if (mapped.has(t.name)) kept.push(t);
        else extra++;
      }
      if (kept.length !== mapped.size) {
        const present = new Set(kept.map((t) => t.name));
        const missing = [...mapped].filter((name) => !present.has(name));
        throw new CheckpointError(indexPath, `tensor ${JSON.stringify(missing[0])} is mapped to shard ${JSON.stringify(shard)}, but that shard does not contain it${missing.length > 1 ? ` (${missing.length} mapped tensors are missing there)` : ''}`);
      }
      if (extra > 0) warnings.push(`${shard}: ${extra} tensor(s) in the shard are not in the index's weight_map and were skipped`);
      for (const w of header.warnings) warnings.push(`${shard}: ${w}`);
      return kept;
    });
    return {
      path: indexPath,
      format: 'safetensors-sharded',
      metadata: index.metadata,
      values: {},
      tensors: perShard.flat(),
      stateDictPrefix: '',
      warnings,
      close: () => pool.closeAll(),
    };
  } catch (e) {
    await pool.closeAll();
    throw e;
  }
}

export interface ShardIndex {
  metadata: Record<string, Value>;
  /** tensor name → shard file name, in index order. */
  weightMap: Map<string, string>;
}

async function readIndex(indexPath: string): Promise<ShardIndex> {
  const fail = (problem: string): never => {
    throw new CheckpointError(indexPath, problem);
  };
  const src = await FileSource.open(indexPath);
  let bytes: Uint8Array;
  try {
    if (src.size > MAX_INDEX_BYTES) fail(`index is ${src.size} bytes, more than the ${MAX_INDEX_BYTES} accepted`);
    bytes = await src.read(0, src.size);
  } finally {
    await src.close();
  }
  return parseShardIndex(bytes, indexPath);
}

/** Validates the bytes of a shard index (local or fetched); errors name `indexPath`. */
export function parseShardIndex(bytes: Uint8Array, indexPath: string): ShardIndex {
  const fail = (problem: string): never => {
    throw new CheckpointError(indexPath, problem);
  };
  let root: unknown;
  try {
    root = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    fail(`index is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!isObject(root)) fail('index JSON is not an object');
  const { metadata, weight_map: weightMap } = root as Record<string, unknown>;
  if (metadata !== undefined && metadata !== null && !isObject(metadata)) fail('index "metadata" is not an object');
  if (!isObject(weightMap)) fail('index has no "weight_map" object');

  const map = new Map<string, string>();
  const shards = new Set<string>();
  for (const tensor of Object.keys(weightMap as object)) {
    const shard = (weightMap as Record<string, unknown>)[tensor];
    if (typeof shard !== 'string') fail(`weight_map entry for ${JSON.stringify(tensor)} is not a file name`);
    const problem = unsafeShardName(shard as string);
    if (problem) fail(`weight_map entry for ${JSON.stringify(tensor)}: shard name ${JSON.stringify(shard)} ${problem}`);
    shards.add(shard as string);
    if (shards.size > MAX_SHARDS) fail(`index references more than ${MAX_SHARDS} shards`);
    map.set(tensor, shard as string);
  }
  // JSON.parse output holds only own data properties, so it is safe to pass on as-is.
  return { metadata: (metadata ?? {}) as Record<string, Value>, weightMap: map };
}

/** Why a shard name may not be opened (it must stay inside the index's folder), or undefined. */
export function unsafeShardName(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL character';
  if (name.includes('..')) return 'contains ".."';
  if (name.includes('://')) return 'is a URL';
  if (isAbsolute(name) || name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) return 'is an absolute path';
  if (!name.endsWith('.safetensors')) return 'is not a .safetensors file';
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Shard files as ByteSources that share a bounded set of open handles. A source reopens its
 * file when its handle was evicted, and refuses to read if the file's size has changed.
 */
class ShardPool {
  /** Open handles in least-recently-used order (Map iteration order). */
  private readonly open = new Map<string, { file: FileSource; pins: number }>();
  private closed = false;

  constructor(private readonly maxOpen: number) {}

  async source(path: string): Promise<ByteSource> {
    const file = await FileSource.open(path);
    // Opening a sibling shard may have failed and closed the pool while this one opened.
    if (this.closed) {
      await file.close();
      throw new CheckpointError(path, 'checkpoint is closed');
    }
    this.open.set(path, { file, pins: 0 });
    await this.evict();
    return new PooledSource(this, path, file.size);
  }

  /** Runs `fn` with an open handle for `path`, pinned so it is not closed meanwhile. */
  async with<R>(path: string, size: number, fn: (file: FileSource) => Promise<R>): Promise<R> {
    if (this.closed) throw new CheckpointError(path, 'checkpoint is closed');
    let slot = this.open.get(path);
    if (slot) {
      this.open.delete(path);
      this.open.set(path, slot);
    } else {
      const file = await FileSource.open(path);
      if (file.size !== size) {
        await file.close();
        throw new CheckpointError(path, `file changed on disk (was ${size} bytes, now ${file.size})`);
      }
      if (this.closed) {
        await file.close();
        throw new CheckpointError(path, 'checkpoint is closed');
      }
      // Another read may have reopened it while we waited: use that one, pinned before any
      // await so eviction cannot close it under us, and drop ours.
      const raced = this.open.get(path);
      if (raced) {
        slot = raced;
        void file.close();
      } else {
        slot = { file, pins: 0 };
        this.open.set(path, slot);
      }
    }
    slot.pins++;
    try {
      return await fn(slot.file);
    } finally {
      slot.pins--;
      await this.evict();
    }
  }

  private async evict(): Promise<void> {
    for (const [path, slot] of this.open) {
      if (this.open.size <= this.maxOpen) break;
      if (slot.pins > 0) continue;
      this.open.delete(path);
      await slot.file.close();
    }
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const slots = [...this.open.values()];
    this.open.clear();
    await Promise.all(slots.map((s) => s.file.close()));
  }
}

class PooledSource implements ByteSource {
  constructor(
    private readonly pool: ShardPool,
    readonly label: string,
    readonly size: number,
  ) {}

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.pool.with(this.label, this.size, (file) => file.read(offset, length));
  }

  readInto(offset: number, target: Uint8Array): Promise<void> {
    return this.pool.with(this.label, this.size, (file) => file.readInto(offset, target));
  }

  /** The pool owns the handles; the checkpoint's close() releases them all. */
  async close(): Promise<void> {}
}
