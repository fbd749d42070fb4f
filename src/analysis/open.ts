// Opens any supported checkpoint: the format is decided by content (magic bytes), with the
// file name only breaking ties (a zip is a PyTorch archive or an .npz).
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import type { Checkpoint } from './core/checkpoint';
import { CheckpointError } from './core/errors';
import { openSafetensors } from './formats/safetensors';
import { openSafetensorsIndex } from './formats/safetensorsIndex';
import { openTorch } from './formats/torch';
import { isTarHeader } from './formats/torchTar';
import { openTorchShards } from './formats/torchShards';
import { openNpy, openNpz } from './formats/numpy';
import { openGguf } from './formats/gguf/gguf';
import { isRemotePath } from './io/httpSource';
import { openRemoteCheckpoint, parseHubRef } from './io/remote';

/** Index / single-file names looked for, in order, when a folder is opened. */
const FOLDER_CANDIDATES = [
  'model.safetensors.index.json',
  'model.safetensors',
  'diffusion_pytorch_model.safetensors.index.json',
  'diffusion_pytorch_model.safetensors',
  'pytorch_model.bin.index.json',
  'pytorch_model.bin',
];

export type Sniffed = 'safetensors' | 'zip' | 'npy' | 'pickle' | 'tar' | 'json' | 'gguf' | 'lua-torch7' | 'unknown';

/** Bytes of a file's start that sniff() looks at (a tar header is one 512-byte block). */
export const SNIFF_BYTES = 512;

/**
 * The format of a file from its first bytes (up to SNIFF_BYTES; its size, when known). safetensors is
 * recognised by structure first: a little-endian header length that fits the file, then `{`.
 * Its first byte alone can look like a pickle protocol marker (a 640-byte header starts
 * `0x80 0x02`), so first-byte checks come after.
 */
export function sniff(head: Uint8Array, fileSize?: number): Sniffed {
  if (head.length >= 9 && head[8] === 0x7b && fileSize !== undefined) {
    const n = new DataView(head.buffer, head.byteOffset, head.byteLength).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(fileSize - 8)) return 'safetensors';
  }
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'zip';
  if (head.length >= 6 && head[0] === 0x93 && String.fromCharCode(...head.subarray(1, 6)) === 'NUMPY') return 'npy';
  if (head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return 'gguf';
  if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'pickle';
  // PyTorch ≤ 0.1.9 saved a tar archive (sys_info, pickle, tensors, storages); torch.load still reads it.
  if (isTarHeader(head)) return 'tar';
  // safetensors: u64 header length, then a JSON object.
  if (head.length >= 9 && head[8] === 0x7b) return 'safetensors';
  const firstChar = head.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (firstChar === 0x7b) return 'json';
  // Lua Torch's torch.save (binary): a little-endian int32 type code, 3 (table) or 4 (torch
  // object), then the first object's index, 1. Named .t7 like PyTorch files of its day.
  const le32 = (i: number): number => head[i] | (head[i + 1] << 8) | (head[i + 2] << 16) | (head[i + 3] << 24);
  if (head.length >= 8 && (le32(0) === 3 || le32(0) === 4) && le32(4) === 1) return 'lua-torch7';
  return 'unknown';
}

export async function openCheckpoint(path: string): Promise<Checkpoint> {
  // http(s):// URLs and hf:// Hub references are read by range requests.
  if (isRemotePath(path)) return openRemoteCheckpoint(path);
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    // Not a local path: a bare Hub repo id (org/repo[@rev]) is opened from the Hub.
    if (parseHubRef(path)) return openRemoteCheckpoint(path);
    throw new CheckpointError(path, `cannot open: ${(e as Error).message}`);
  }
  if (st.isDirectory()) return openFolder(path);
  // A FIFO would block the first read forever; a device (/dev/zero) never ends.
  if (!st.isFile()) throw new CheckpointError(path, `not a regular file (${st.isFIFO() ? 'a named pipe' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a file'}); refusing to read it`);

  const head = new Uint8Array(SNIFF_BYTES);
  const fh = await fsp.open(path, 'r');
  try {
    await fh.read(head, 0, SNIFF_BYTES, 0);
  } finally {
    await fh.close();
  }
  const kind = st.size === 0 ? 'unknown' : sniff(head.subarray(0, Math.min(SNIFF_BYTES, st.size)), st.size);
  switch (kind) {
    case 'safetensors':
      return openSafetensors(path);
    case 'npy':
      return openNpy(path);
    case 'pickle':
    case 'tar':
      return openTorch(path);
    case 'zip':
      return /\.npz$/i.test(path) ? openNpz(path) : openTorch(path);
    case 'json':
      return openIndex(path);
    case 'gguf':
      return openGguf(path);
    case 'lua-torch7':
      throw new CheckpointError(path, "a Lua Torch7 file (Lua Torch's torch.save), not a PyTorch checkpoint: not read here; PyTorch has not read these since 1.0 (load_lua), the Python package torchfile does");
    default:
      // Let the named format's reader explain what is wrong with it.
      if (/\.safetensors$/i.test(path) && st.size >= 8) return openSafetensors(path);
      if (/\.npy$/i.test(path)) return openNpy(path);
      if (st.size === 0) throw new CheckpointError(path, 'the file is empty');
      throw new CheckpointError(path, `not a recognised checkpoint format (first bytes ${hex(head)}); expected safetensors, GGUF, a PyTorch zip or legacy file, .npy/.npz, or a shard index`);
  }
}

async function openIndex(path: string): Promise<Checkpoint> {
  const name = basename(path);
  if (/\.safetensors\.index\.json$/i.test(name)) return openSafetensorsIndex(path);
  if (/\.bin\.index\.json$/i.test(name) || /\.pt\.index\.json$/i.test(name)) return openTorchShards(path);
  throw new CheckpointError(path, 'a JSON file that is not a shard index (expected *.safetensors.index.json or pytorch_model.bin.index.json)');
}

async function openFolder(dir: string): Promise<Checkpoint> {
  const names = new Set(await fsp.readdir(dir));
  for (const c of FOLDER_CANDIDATES) if (names.has(c)) return openCheckpoint(join(dir, c));
  const index = [...names].sort().find((n) => /\.(safetensors|bin)\.index\.json$/.test(n));
  if (index) return openCheckpoint(join(dir, index));
  throw new CheckpointError(dir, `no checkpoint found in this folder (looked for ${FOLDER_CANDIDATES.join(', ')} and *.index.json)`);
}

function hex(b: Uint8Array): string {
  return Array.from(b.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
}
