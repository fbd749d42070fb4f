// Pickles read one after another from a byte source (the legacy torch stream, the members of
// the ≤ 0.1.9 tar format): each is unpickled from a window that grows only while the pickle is
// longer than what was read, so a file of gigabytes costs the bytes of its pickles.
import { CheckpointError } from '../core/errors';
import type { ByteSource } from '../io/byteSource';
import { PickleTruncatedError, type PyValue, type RiskReport, type UnpickleOptions, unpickle } from './pickle';

/** One pickle larger than this is refused. */
export const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

export interface PickleAt {
  value: PyValue;
  /** Offset just after the pickle's STOP opcode. */
  end: number;
  globals: string[];
  risk: RiskReport;
}

/** Unpickles the pickle starting at `offset`, reading more of `src` only as needed. */
export async function pickleAt(
  src: ByteSource,
  path: string,
  offset: number,
  where: string,
  hooks: Pick<UnpickleOptions, 'persistentLoad' | 'persistentId'> = {},
): Promise<PickleAt> {
  const remaining = src.size - offset;
  let window = Math.min(remaining, 4096);
  for (;;) {
    const bytes = await src.read(offset, window);
    try {
      const r = unpickle(bytes, { label: path, where, ...hooks });
      return { value: r.value, end: offset + r.end, globals: r.globals, risk: r.risk };
    } catch (e) {
      if (!(e instanceof PickleTruncatedError) || window === remaining) throw e;
      if (window >= MAX_PICKLE_BYTES) throw new CheckpointError(path, `${where} is larger than ${MAX_PICKLE_BYTES} bytes; refusing`);
      window = Math.min(remaining, window * 8, MAX_PICKLE_BYTES);
    }
  }
}
