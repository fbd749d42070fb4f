export interface RefTensor { name: string; dtype: string; shape: number[]; numel: number; nbytes: number; values: Float64Array }
export interface RefStats { count: number; mean: number | null; std: number | null; min: number | null; max: number | null; zeros: number }
export function readSafetensors(path: string): { metadata: Record<string, string>; tensors: RefTensor[] };
export function refStats(values: ArrayLike<number>): RefStats;
export function close(a: number | null | undefined, b: number | null | undefined, rel?: number, abs?: number): boolean;
export function writeSparseSafetensors(path: string, tensors: number, mb: number): number;
export function refHistogram(values: ArrayLike<number>, bins?: number): number[];
