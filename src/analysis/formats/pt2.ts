// torch.export archives (`.pt2`, `torch.export.save`, archive_format "pt2"): the weights are raw
// records described by JSON (`data/weights/<model>_weights_config.json`: name → record, dtype,
// sizes, strides, storage offset), so they open without any pickle. The program itself
// (`models/<model>.json`) is a graph this reader does not run. Pickled parts are read only by
// our own pickle machine, for their risk report: tensor subclasses saved with torch.save and the
// sample inputs (`data/sample_inputs/<model>.pt`).
import { type Checkpoint, type TensorInfo, type Value, linkSharedStorages } from '../core/checkpoint';
import { type DType, dtypeSize } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import type { RiskReport } from '../core/risk';
import type { ByteSource } from '../io/byteSource';
import { mergeRisk } from './pickleRisk';
import type { ZipArchive, ZipEntry } from './zip';

/** torch._export.serde.schema.ScalarType → our dtype (COMPLEXHALF has none). */
const SCALAR_TYPES: Record<number, DType> = {
  1: 'U8', 2: 'I8', 3: 'I16', 4: 'I32', 5: 'I64', 6: 'F16', 7: 'F32', 8: 'F64', 10: 'C64', 11: 'C128', 12: 'BOOL', 13: 'BF16',
  28: 'U16', 29: 'F8_E4M3', 30: 'F8_E5M2', 31: 'F8_E4M3FNUZ', 32: 'F8_E5M2FNUZ', 33: 'F8_E8M0', 34: 'U32', 35: 'U64',
};
/** schema.Layout.Strided */
const STRIDED = 7;
/** Configs larger than this are refused (a million weights take about 300 MB of JSON). */
const MAX_CONFIG_BYTES = 256 * 1024 * 1024;
/** Elements of one weight at most (counts and byte sizes stay exact integers). */
const MAX_ELEMENTS = 2 ** 50;

/** True for a torch.export archive (its folder holds `archive_format`). */
export function isPt2Archive(zip: ZipArchive, folder: string): boolean {
  return zip.get(`${folder}archive_format`) !== undefined;
}

type ReadTorch = (src: ByteSource, path: string, opts: { storageIdPrefix?: string }) => Promise<Checkpoint>;

/**
 * Lists a torch.export archive's weights and constants. `readTorch` reads nested torch.save
 * members (passed in to keep the module graph acyclic).
 */
export async function readPt2(zip: ZipArchive, folder: string, path: string, readTorch: ReadTorch, close: () => Promise<void>): Promise<Checkpoint> {
  const text = async (name: string, max = 64): Promise<string | undefined> => {
    const e = zip.get(folder + name);
    return e ? new TextDecoder().decode(await zip.readEntry(e, max)).trim() : undefined;
  };
  const format = await text('archive_format');
  if (format !== 'pt2') throw new CheckpointError(path, `a torch.export archive of format "${(format ?? '').slice(0, 20)}", which this reader does not know (known: pt2)`);
  if (zip.entries.some((e) => e.name.startsWith(`${folder}data/aotinductor/`))) {
    throw new CheckpointError(path, 'an AOTInductor package (compiled code and its weights, from aoti_compile_and_package); its weights are not listed by this reader');
  }
  const byteorder = (await text('byteorder')) ?? 'little';
  if (byteorder !== 'little' && byteorder !== 'big') throw new CheckpointError(path, `unknown byteorder record "${byteorder.slice(0, 20)}"`);
  const metadata: Record<string, Value> = { archiveFormat: 'pt2', byteorder, archiveFolder: folder.slice(0, -1) };
  const version = await text('archive_version');
  if (version !== undefined) metadata.archiveVersion = /^\d+$/.test(version) ? Number(version) : version;
  const models = zip.entries.filter((e) => e.name.startsWith(`${folder}models/`) && e.name.endsWith('.json')).map((e) => e.name.slice(`${folder}models/`.length, -'.json'.length));
  metadata.models = models;

  const warnings: string[] = [];
  const risks: RiskReport[] = [];
  const tensors: TensorInfo[] = [];
  const sources = new Map<string, ByteSource>();
  for (const [kind, dir, suffix] of [['weight', 'data/weights/', '_weights_config.json'], ['constant', 'data/constants/', '_constants_config.json']] as const) {
    for (const cfgEntry of zip.entries.filter((e) => e.name.startsWith(folder + dir) && e.name.endsWith(suffix))) {
      const model = cfgEntry.name.slice((folder + dir).length, -suffix.length);
      // Several models in one archive: their names are prefixed by the model's.
      const prefix = models.length > 1 ? `${model}.` : '';
      let config: unknown;
      try {
        config = JSON.parse(new TextDecoder().decode(await zip.readEntry(cfgEntry, MAX_CONFIG_BYTES)));
      } catch (e) {
        if (e instanceof CheckpointError) throw e;
        throw new CheckpointError(path, `${cfgEntry.name} is not valid JSON: ${(e as Error).message}`);
      }
      const entries = (config as { config?: unknown })?.config;
      if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw new CheckpointError(path, `${cfgEntry.name} has no "config" object`);
      for (const [fqn, meta] of Object.entries(entries as Record<string, unknown>)) {
        const name = prefix + fqn;
        const why = await addEntry(name, meta, folder + dir, kind);
        if (why) warnings.push(`${kind} "${name}" is skipped: ${why}`);
      }
    }
  }

  // Sample inputs are a torch.save file that torch.export.load unpickles: scan it for its risk.
  for (const e of zip.entries.filter((x) => x.name.startsWith(`${folder}data/sample_inputs/`) && x.name.endsWith('.pt'))) {
    try {
      const inner = await readTorch(await memberSource(e), `${path}:${e.name}`, { storageIdPrefix: `${e.name}:` });
      if (inner.risk) risks.push(inner.risk);
      await inner.close();
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      warnings.push(`sample inputs ${e.name} could not be read: ${err.message}`);
    }
  }
  warnings.push('a torch.export program archive: its weights and constants are listed; the exported graph (models/*.json) is not run or shown');
  linkSharedStorages(tensors);

  return {
    path,
    format: 'pytorch-zip',
    metadata,
    values: {},
    tensors,
    stateDictPrefix: '',
    warnings,
    risk: mergeRisk(risks),
    close,
  };

  async function memberSource(e: ZipEntry): Promise<ByteSource> {
    let s = sources.get(e.name);
    if (!s) sources.set(e.name, (s = await zip.entrySource(e)));
    return s;
  }

  /** Adds one config entry's tensor; returns why it is skipped, if it is. */
  async function addEntry(name: string, meta: unknown, dir: string, kind: string): Promise<string | undefined> {
    const m = meta as { path_name?: unknown; use_pickle?: unknown; tensor_meta?: Record<string, unknown> | null };
    if (typeof m !== 'object' || m === null || typeof m.path_name !== 'string') return 'its entry has no record name';
    const entry = zip.get(dir + m.path_name);
    if (!entry) throw new CheckpointError(path, `${kind} "${name}": record ${dir}${m.path_name} is missing`);
    if (m.use_pickle === true) {
      // A tensor subclass saved with torch.save: read by our pickle machine, never run.
      const inner = await readTorch(await memberSource(entry), `${path}:${entry.name}`, { storageIdPrefix: `${entry.name}:` });
      if (inner.risk) risks.push(inner.risk);
      for (const t of inner.tensors) tensors.push({ ...t, name: t.name === 'tensor' ? name : `${name}.${t.name}` });
      return inner.tensors.length ? undefined : 'a pickled object with no tensors inside';
    }
    const tm = m.tensor_meta;
    if (!tm) return 'not a tensor';
    const dtype = SCALAR_TYPES[tm.dtype as number];
    if (!dtype) return `dtype code ${String(tm.dtype)} is not one this reader decodes`;
    if (tm.layout !== STRIDED) return `layout code ${String(tm.layout)} is not strided`;
    const ints = (v: unknown, what: string): number[] => {
      if (!Array.isArray(v)) throw new CheckpointError(path, `${kind} "${name}": ${what} is not a list`);
      return v.map((x, i) => {
        const n = (x as { as_int?: unknown })?.as_int;
        if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new CheckpointError(path, `${kind} "${name}": ${what}[${i}] is not a non-negative integer`);
        return n;
      });
    };
    const shape = ints(tm.sizes, 'sizes');
    const strides = ints(tm.strides, 'strides');
    const [offset] = ints([tm.storage_offset], 'storage_offset');
    if (shape.length !== strides.length) throw new CheckpointError(path, `${kind} "${name}": sizes and strides differ in length`);
    let numel = 1;
    let last = offset;
    for (let i = 0; i < shape.length; i++) {
      numel *= shape[i];
      last += Math.max(0, shape[i] - 1) * strides[i];
    }
    if (!(numel <= MAX_ELEMENTS) || !Number.isSafeInteger(last)) throw new CheckpointError(path, `${kind} "${name}": shape [${shape}] is too large`);
    const size = dtypeSize(dtype);
    const source = await memberSource(entry);
    if (numel > 0 && (last + 1) * size > source.size) {
      throw new CheckpointError(path, `${kind} "${name}": its view (offset ${offset}, shape [${shape}], strides [${strides}]) reaches outside its ${source.size}-byte record ${entry.name}`);
    }
    tensors.push({
      name,
      dtype,
      shape,
      numel,
      nbytes: numel * size,
      location: { source, storageByteOffset: 0, storageBytes: source.size, elementOffset: offset, strides, byteOrder: byteorder as 'little' | 'big' },
      // Weights sharing a storage share one record.
      storageId: entry.name,
      ...(kind === 'constant' ? { note: 'a constant of the exported program' } : {}),
    });
    return undefined;
  }
}

