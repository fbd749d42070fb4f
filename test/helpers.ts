// Shared test helpers. Tests are bundled into out/test/**, so paths are found from the repo root.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findRoot(start: string): string {
  let d = start;
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('repo root not found from ' + start);
    d = up;
  }
  return d;
}

export const REPO_ROOT = findRoot(__dirname);
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
export const fixture = (...parts: string[]): string => join(FIXTURES, ...parts);

/** |a - b| <= rel * max(|a|, |b|) + abs */
export function close(a: number | null, b: number | null, rel = 1e-6, abs = 1e-12): boolean {
  if (a === null || b === null) return a === b;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + abs;
}
