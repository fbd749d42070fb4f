// The Hugging Face Hub: `hf://org/repo[@rev]/file` and bare repo ids resolved to resolve/ URLs,
// a repo's files listed, the access token sent to the Hub's host only. No format code here, so
// the extension host can use it without the readers.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../core/errors';
import { displayUrl, fetchSmall, type HttpOptions } from './httpSource';

export interface RemoteOptions extends HttpOptions {
  /** Hub access token (default: hubToken(), from the environment or huggingface-cli's token file). */
  token?: string;
  /** Hub endpoint (default: HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
}

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

/**
 * The Hub token as huggingface_hub finds it: HF_TOKEN, else the file `huggingface-cli login`
 * writes (HF_TOKEN_PATH, else $HF_HOME/token, else ~/.cache/huggingface/token); undefined if none.
 */
export function hubToken(env: Record<string, string | undefined> = process.env): string | undefined {
  const fromEnv = env.HF_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  const file = env.HF_TOKEN_PATH || join(env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface'), 'token');
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Options for one URL: the Hub token becomes an Authorization header only when the URL is on the
 * Hub endpoint's origin (scheme, host and port); httpTransport.ts drops it at any redirect to
 * another origin, such as the CDN that serves LFS files.
 */
export function optsFor(url: string, opts: RemoteOptions): HttpOptions {
  const token = opts.token ?? hubToken();
  let sameOrigin = false;
  try {
    sameOrigin = new URL(url).origin === new URL(hubEndpoint(opts)).origin;
  } catch {
    // not a URL: no token
  }
  return token && sameOrigin ? { ...opts, headers: { ...opts.headers, Authorization: `Bearer ${token}` } } : opts;
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

const CHECKPOINT_FILE = /\.(safetensors|gguf|pt|pth|bin|ckpt|npz|npy)$|\.safetensors\.index\.json$/i;
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

