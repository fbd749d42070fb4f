// ggml tensor types as GGUF numbers them: block size, bytes per block, and how we read them.
// Sizes follow ggml's type_traits (ggml.c); Q8_1 is 36 bytes there (two halves + 32 int8), while
// gguf-py's GGML_QUANT_SIZES still says 40 from an older layout.
import type { DType } from '../../core/dtype';
import { KERNELS, type Kernel } from './dequant';

export interface GgmlType {
  id: number;
  name: string;
  blockElems: number;
  blockBytes: number;
  /** Stored as a plain element type we read directly. */
  plain?: DType;
  /** Block-quantized with a dequantization kernel. */
  kernel?: Kernel;
}

const TABLE: [number, string, number, number, DType?][] = [
  [0, 'F32', 1, 4, 'F32'],
  [1, 'F16', 1, 2, 'F16'],
  [2, 'Q4_0', 32, 18],
  [3, 'Q4_1', 32, 20],
  [6, 'Q5_0', 32, 22],
  [7, 'Q5_1', 32, 24],
  [8, 'Q8_0', 32, 34],
  [9, 'Q8_1', 32, 36],
  [10, 'Q2_K', 256, 84],
  [11, 'Q3_K', 256, 110],
  [12, 'Q4_K', 256, 144],
  [13, 'Q5_K', 256, 176],
  [14, 'Q6_K', 256, 210],
  [15, 'Q8_K', 256, 292],
  [16, 'IQ2_XXS', 256, 66],
  [17, 'IQ2_XS', 256, 74],
  [18, 'IQ3_XXS', 256, 98],
  [19, 'IQ1_S', 256, 50],
  [20, 'IQ4_NL', 32, 18],
  [21, 'IQ3_S', 256, 110],
  [22, 'IQ2_S', 256, 82],
  [23, 'IQ4_XS', 256, 136],
  [24, 'I8', 1, 1, 'I8'],
  [25, 'I16', 1, 2, 'I16'],
  [26, 'I32', 1, 4, 'I32'],
  [27, 'I64', 1, 8, 'I64'],
  [28, 'F64', 1, 8, 'F64'],
  [29, 'IQ1_M', 256, 56],
  [30, 'BF16', 1, 2, 'BF16'],
  [34, 'TQ1_0', 256, 54],
  [35, 'TQ2_0', 256, 66],
  [39, 'MXFP4', 32, 17],
  [40, 'NVFP4', 64, 36],
  [41, 'Q1_0', 128, 18],
];

export const GGML_TYPES = new Map<number, GgmlType>(
  TABLE.map(([id, name, blockElems, blockBytes, plain]) => [id, { id, name, blockElems, blockBytes, plain, kernel: KERNELS[name] }]),
);

/** Types removed from ggml (Q4_2, Q4_3, Q4_0_4_4 …): named so the error can say what they were. */
export const RETIRED_TYPES: Record<number, string> = { 4: 'Q4_2', 5: 'Q4_3', 31: 'Q4_0_4_4', 32: 'Q4_0_4_8', 33: 'Q4_0_8_8', 36: 'IQ4_NL_4_4', 37: 'IQ4_NL_4_8', 38: 'IQ4_NL_8_8' };
