// Checkpoints on HTTP servers and the Hugging Face Hub, opened by range requests: a URL, a
// `hf://org/repo[@rev]/file` shorthand, or a bare repo id (its main checkpoint file is found
// from the Hub's file listing). Only headers are read at open; values on demand.
import type { Checkpoint, TensorInfo } from '../core/checkpoint';
import { CheckpointError } from '../core/errors';
import { ggufCheckpoint } from '../formats/gguf/gguf';
import { readSafetensorsHeader } from '../formats/safetensors';
import { parseShardIndex, unsafeShardName } from '../formats/safetensorsIndex';
import { readTorch } from '../formats/torch';
import { displayUrl, fetchSmall, HttpSource, type HttpOptions } from './httpSource';

export interface RemoteOptions extends HttpOptions {
  /** Hub access token (default: the HF_TOKEN environment variable). */
  token?: string;
  /** Hub endpoint (default: HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
}

/** A remote checkpoint and how many bytes opening and reading it has fetched so far. */
export type RemoteCheckpoint = Checkpoint & { bytesFetched(): number; url: string };

export function hubEndpoint(opts: RemoteOptions = {}): string {
  return (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

export interface HubRef {
  repo: string;
  revision: string;
  /** Path inside the repo; undefined: the repo's main checkpoint. */
  file?: string;
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** Parses `hf://org/repo[@rev][/path]` or a bare `org/repo[@rev]`; undefined if neither. */
export function parseHubRef(spec: string): HubRef | undefined {
  const m = /^(?:hf:\/\/)?((?:datasets\/|spaces\/)?[^/@\s]+\/[^/@\s]+)(?:@([^/\s]+))?(?:\/(.+))?$/.exec(spec);
  if (!m) return undefined;
  if (!spec.startsWith('hf://') && (m[3] !== undefined || !REPO_ID.test(m[1]))) return undefined;
  if (m[3]?.split('/').some((p) => p === '..' || p === '.')) return undefined;
  return { repo: m[1], revision: m[2] ?? 'main', file: m[3] };
}

export function hubFileUrl(ref: HubRef, file: string, opts: RemoteOptions = {}): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${hubEndpoint(opts)}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${path}`;
}

/** Headers for a URL: the Hub token goes only to the Hub's own host (redirects drop it off-host). */
function optsFor(url: string, opts: RemoteOptions): HttpOptions {
  const token = opts.token ?? process.env.HF_TOKEN;
  let sameHost = false;
  try {
    sameHost = new URL(url).host === new URL(hubEndpoint(opts)).host;
  } catch {
    // not a URL: no token
  }
  return token && sameHost ? { ...opts, headers: { ...opts.headers, Authorization: `Bearer ${token}` } } : opts;
}

export interface RepoFile {
  path: string;
  size: number;
}

/** Files of a Hub repository (the Hub's tree API, recursive). */
export async function listRepoFiles(ref: HubRef, opts: RemoteOptions = {}): Promise<RepoFile[]> {
  const kind = ref.repo.startsWith('datasets/') ? 'datasets' : ref.repo.startsWith('spaces/') ? 'spaces' : 'models';
  const id = ref.repo.replace(/^(datasets|spaces)\//, '');
  const url = `${hubEndpoint(opts)}/api/${kind}/${id}/tree/${encodeURIComponent(ref.revision)}?recursive=true`;
  const bytes = await fetchSmall(url, optsFor(url, opts), 20 * 1024 * 1024);
  let list: unknown;
  try {
    list = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CheckpointError(displayUrl(url), `file listing is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(list)) throw new CheckpointError(displayUrl(url), 'file listing is not a JSON array');
  return list
    .filter((f): f is { type: string; path: string; size?: number } => typeof f === 'object' && f !== null && (f as { type?: unknown }).type === 'file' && typeof (f as { path?: unknown }).path === 'string')
    .map((f) => ({ path: f.path, size: typeof f.size === 'number' ? f.size : 0 }));
}

const CHECKPOINT_FILE = /\.(safetensors|gguf|pt|pth|bin|ckpt)$|\.safetensors\.index\.json$/i;
/** In order of preference when a repo id is given without a file. */
const MAIN_FILES = ['model.safetensors.index.json', 'model.safetensors', 'diffusion_pytorch_model.safetensors', 'pytorch_model.bin'];

export function checkpointFiles(files: RepoFile[]): RepoFile[] {
  return files.filter((f) => CHECKPOINT_FILE.test(f.path));
}

/** The URL a spec names: URLs as they are, Hub shorthands resolved (repo ids via the listing). */
export async function resolveRemote(spec: string, opts: RemoteOptions = {}): Promise<string> {
  if (/^https?:\/\//i.test(spec)) return spec;
  const ref = parseHubRef(spec);
  if (!ref) throw new CheckpointError(spec, 'not a URL or a Hub reference (hf://org/repo[@revision]/file, or org/repo)');
  if (ref.file) return hubFileUrl(ref, ref.file, opts);
  const files = await listRepoFiles(ref, opts);
  const names = new Set(files.map((f) => f.path));
  const main = MAIN_FILES.find((f) => names.has(f)) ?? checkpointFiles(files).map((f) => f.path).sort()[0];
  if (!main) throw new CheckpointError(spec, `the repository lists no checkpoint file (looked for ${MAIN_FILES.join(', ')}, *.gguf, *.safetensors)`);
  return hubFileUrl(ref, main, opts);
}

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
        if (/\.npz$/i.test(pathname)) throw new CheckpointError(label, '.npz archives are not read remotely yet');
        ckpt = { ...(await readTorch(src, label)), path: url, close: closeAll };
      } else if (head.length >= 9 && head[8] === 0x7b) {
        const h = await readSafetensorsHeader(src);
        ckpt = { path: url, format: 'safetensors', metadata: h.metadata, values: {}, tensors: h.tensors, stateDictPrefix: '', warnings: h.warnings, close: closeAll };
      } else {
        throw new CheckpointError(label, 'not a checkpoint read remotely (safetensors, a safetensors shard index, GGUF or a PyTorch zip)');
      }
    }
    return Object.assign(ckpt, { bytesFetched, url });
  } catch (e) {
    await closeAll();
    throw e;
  }
}
