// Checkpoints on HTTP servers and the Hugging Face Hub, opened by range requests: a URL, a
// `hf://org/repo[@rev]/file` shorthand, or a bare repo id (its main checkpoint file is found
// from the Hub's file listing). Only headers are read at open; values on demand.
import type { Checkpoint, TensorInfo } from '../core/checkpoint';
import { CheckpointError } from '../core/errors';
import { ggufCheckpoint } from '../formats/gguf/gguf';
import { readSafetensorsHeader } from '../formats/safetensors';
import { parseShardIndex, unsafeShardName } from '../formats/safetensorsIndex';
import { readTorch } from '../formats/torch';
import { npyFromSource, npzFromSource } from '../formats/numpy';
import { displayUrl, fetchSmall, HttpSource } from './httpSource';
import { type RemoteOptions, optsFor, resolveRemote } from './hub';

export { checkpointFiles, hubFileUrl, listRepoFiles, parseHubRef, resolveRemote, type HubRef, type RemoteOptions, type RepoFile } from './hub';

/** A remote checkpoint and how many bytes opening and reading it has fetched so far. */
export type RemoteCheckpoint = Checkpoint & { bytesFetched(): number; url: string };

/** Opens a remote checkpoint by its header bytes only. */
export async function openRemoteCheckpoint(spec: string, opts: RemoteOptions = {}): Promise<RemoteCheckpoint> {
  const url = await resolveRemote(spec, opts);
  const sources: HttpSource[] = [];
  let extra = 0;
  const counted: RemoteOptions = { ...opts, onBytes: (n) => opts.onBytes?.(n) };
  const bytesFetched = (): number => extra + sources.reduce((a, s) => a + s.bytesFetched, 0);
  const closeAll = async (): Promise<void> => {
    await Promise.all(sources.map((s) => s.close()));
  };
  try {
    const pathname = new URL(url).pathname;
    let ckpt: Checkpoint;
    if (/\.index\.json$/i.test(pathname)) {
      if (!/\.safetensors\.index\.json$/i.test(pathname)) throw new CheckpointError(displayUrl(url), 'only safetensors shard indexes (*.safetensors.index.json) are read remotely');
      const bytes = await fetchSmall(url, optsFor(url, counted), 100 * 1024 * 1024);
      extra += bytes.length;
      const index = parseShardIndex(bytes, displayUrl(url));
      const byShard = new Map<string, Set<string>>();
      for (const [tensor, shard] of index.weightMap) {
        if (unsafeShardName(shard)) throw new CheckpointError(displayUrl(url), `shard name ${JSON.stringify(shard)} ${unsafeShardName(shard)}`);
        let set = byShard.get(shard);
        if (!set) byShard.set(shard, (set = new Set()));
        set.add(tensor);
      }
      const shards = [...byShard.keys()].sort();
      // Shard headers in parallel, a few at a time.
      const perShard: TensorInfo[][] = new Array(shards.length);
      const warnings: string[] = [];
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(4, shards.length) }, async () => {
        while (next < shards.length) {
          const i = next++;
          const shardUrl = new URL(shards[i].split('/').map(encodeURIComponent).join('/'), url).toString();
          const src = await HttpSource.open(shardUrl, optsFor(shardUrl, counted));
          sources.push(src);
          const header = await readSafetensorsHeader(src);
          const mapped = byShard.get(shards[i])!;
          perShard[i] = header.tensors.filter((t) => mapped.has(t.name));
          if (perShard[i].length !== mapped.size) {
            const have = new Set(perShard[i].map((t) => t.name));
            const missing = [...mapped].find((n) => !have.has(n));
            throw new CheckpointError(displayUrl(url), `tensor ${JSON.stringify(missing)} is mapped to shard ${JSON.stringify(shards[i])}, but that shard does not contain it`);
          }
          for (const w of header.warnings) warnings.push(`${shards[i]}: ${w}`);
        }
      }));
      ckpt = { path: url, format: 'safetensors-sharded', metadata: index.metadata, values: {}, tensors: perShard.flat(), stateDictPrefix: '', warnings, close: closeAll };
    } else {
      const src = await HttpSource.open(url, optsFor(url, counted));
      sources.push(src);
      const head = await src.read(0, Math.min(16, src.size));
      const label = displayUrl(url);
      if (head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) {
        ckpt = { ...(await ggufCheckpoint(label, src)), path: url, close: closeAll };
      } else if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
        // A zip: an .npz by its name (its members are .npy arrays), else a PyTorch archive.
        ckpt = /\.npz$/i.test(pathname) ? { ...(await npzFromSource(src, label)), path: url, close: closeAll } : { ...(await readTorch(src, label)), path: url, close: closeAll };
      } else if (head.length >= 6 && head[0] === 0x93 && String.fromCharCode(...head.subarray(1, 6)) === 'NUMPY') {
        ckpt = { ...(await npyFromSource(src, label)), path: url, close: closeAll };
      } else if (head.length >= 9 && head[8] === 0x7b) {
        const h = await readSafetensorsHeader(src);
        ckpt = { path: url, format: 'safetensors', metadata: h.metadata, values: {}, tensors: h.tensors, stateDictPrefix: '', warnings: h.warnings, close: closeAll };
      } else {
        throw new CheckpointError(label, 'not a checkpoint read remotely (safetensors, a safetensors shard index, GGUF, a PyTorch zip, .npz or .npy)');
      }
    }
    return Object.assign(ckpt, { bytesFetched, url });
  } catch (e) {
    await closeAll();
    throw e;
  }
}
