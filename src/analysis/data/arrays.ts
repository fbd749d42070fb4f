// Arrays for datasets from the files researchers keep them in: .npy, .npz and safetensors
// (and a torch.save'd dict of tensors), read with the checkpoint readers.
import type { DType } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import { readTensor } from '../core/tensorData';
import { openCheckpoint } from '../open';

export interface ArrayData {
  /** C-order values; integers stay exact (Float64Array for 64-bit integers). */
  values: Uint8Array | Int8Array | Int32Array | Float32Array | Float64Array;
  shape: number[];
  /** The stored element type: U8 images are scaled to [0, 1], integer arrays can be token ids. */
  dtype: DType;
  /** File (and key) the values came from, for messages. */
  source: string;
}

const MAX_DATASET_ELEMENTS = 1 << 30;

/** The named arrays of an .npy/.npz/safetensors/.pt file: names and shapes now, values on demand. */
export async function listArrays(path: string): Promise<{ names: Map<string, number[]>; read: (name: string) => Promise<ArrayData>; close: () => Promise<void> }> {
  const ckpt = await openCheckpoint(path);
  const byName = new Map(ckpt.tensors.map((t) => [t.name, t]));
  return {
    names: new Map(ckpt.tensors.map((t) => [t.name, t.shape])),
    read: async (name) => {
      const t = byName.get(name);
      if (!t) throw new CheckpointError(path, `no array named "${name}"`);
      if (t.dtype === 'C64' || t.dtype === 'C128') throw new CheckpointError(path, `array "${name}" is complex`);
      const values = await readTensor(t, MAX_DATASET_ELEMENTS);
      return { values, shape: t.shape, dtype: t.dtype, source: `${path}:${name}` };
    },
    close: () => ckpt.close(),
  };
}

export function isIntegerDType(d: DType): boolean {
  return d === 'U8' || d === 'I8' || d === 'I16' || d === 'U16' || d === 'I32' || d === 'U32' || d === 'I64' || d === 'U64' || d === 'BOOL';
}
