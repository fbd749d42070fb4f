// Human-readable numbers for tables and reports.

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  const units = ['K', 'M', 'B', 'T'];
  let i = -1;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)}${units[i]}`;
}

/** "onnxruntime, 1 thread", or the tfjs backend's name alone (its threads are not ours to set). */
export function formatEngine(backend: string, threads?: number): string {
  return threads === undefined ? backend : `${backend}, ${threads} thread${threads === 1 ? '' : 's'}`;
}
