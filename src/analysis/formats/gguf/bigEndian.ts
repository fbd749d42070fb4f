// Block-quantized tensors in a big-endian GGUF. ggml on a big-endian host (s390x) reads blocks
// natively, so a big-endian file holds each block's multi-byte fields (f16 scales) big-endian:
// that is what llama.cpp's own converter, gguf-py's scripts/gguf_convert_endian.py, writes, and
// it defines the layout for only these types. gguf-py's GGUFWriter(endianess=BIG) byteswaps the
// numpy arrays it is given, which leaves quantized blocks (uint8 arrays) in whatever order the
// writing host produced them: no second convention to follow. Other block types in a big-endian
// file are listed with the reason and their values are not decoded.
import type { BlockKernel } from '../../core/checkpoint';
import type { GgmlType } from './ggmlTypes';

/** Byte offsets of the 16-bit fields that gguf_convert_endian.py swaps in each block (none: bytes only). */
const SWAPPED_HALVES: Record<string, number[]> = { Q4_0: [0], Q8_0: [0], Q4_K: [0, 2], Q6_K: [208], MXFP4: [], NVFP4: [] };

/** One scratch buffer: kernels run synchronously, so no two calls overlap. */
let scratch = new Uint8Array(0);

const LAYOUT_TYPES = Object.keys(SWAPPED_HALVES);

/** Why blocks of a type without a big-endian layout are not decoded. */
export const BIG_ENDIAN_UNDECODED = `llama.cpp's gguf_convert_endian.py defines a big-endian block layout only for ${LAYOUT_TYPES.slice(0, -1).join(', ')} and ${LAYOUT_TYPES.at(-1)}`;

/** The kernel for `type`'s blocks (decoded little-endian by `base`) stored big-endian, or why its values are not decoded. */
export function bigEndianKernel(type: GgmlType, base: BlockKernel): { kernel: BlockKernel } | { reason: string } {
  const halves = SWAPPED_HALVES[type.name];
  if (!halves) return { reason: `${type.name} in a big-endian GGUF: values not decoded (${BIG_ENDIAN_UNDECODED})` };
  if (!halves.length) return { kernel: base };
  const bb = type.blockBytes;
  return {
    kernel: (src, nBlocks, out) => {
      // The caller's bytes are left as read: the little-endian copy goes to a scratch buffer.
      const n = nBlocks * bb;
      if (scratch.length < n) scratch = new Uint8Array(n);
      const le = scratch.subarray(0, n);
      le.set(src.subarray(0, n));
      for (let at = 0; at < n; at += bb) {
        for (const f of halves) {
          const t = le[at + f];
          le[at + f] = le[at + f + 1];
          le[at + f + 1] = t;
        }
      }
      base(le, nBlocks, out);
    },
  };
}
