// The statistics of one tensor as they cross every boundary (worker, host, webview, CLI JSON).
// Pure types with no imports, so browser code can use them too.

/** 64 equal-width bins; lo and hi are the outer edges. */
export interface Histogram {
  lo: number;
  hi: number;
  counts: number[];
}

/** min…l2 and the histogram are null when the tensor has no finite values. */
export interface TensorStats {
  count: number;
  nan: number;
  inf: number;
  zeros: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  l2: number | null;
  histogram: Histogram | null;
}

