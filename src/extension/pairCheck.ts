// Refuses an A/B pair that cannot be one network's two points right after B is picked (before
// the dataset is asked for): the two listings (headers only, opened in the worker) must hold the
// same tensors with the same shapes. The message puts the cause first, then the files.
import { basename } from 'node:path';
import type { Listing } from '../analysis/protocol';
import { tableOf } from '../analysis/core/tensorTable';
import type { WorkerHost } from './workerHost';

function weights(l: Listing): Map<string, number[]> {
  const p = l.stateDictPrefix;
  const table = tableOf(l.tensors);
  const out = new Map<string, number[]>();
  for (let i = 0; i < table.length; i++) {
    const name = table.name(i);
    if ((!p || name.startsWith(p)) && table.rank(i) >= 1 && /^(F|BF)\d+/i.test(table.dtype(i))) out.set(name.slice(p.length), table.shape(i));
  }
  return out;
}

/** Why A and B are not the same architecture, or undefined when they are (names and shapes agree). */
export function pairMismatch(a: Listing, b: Listing): string | undefined {
  const wa = weights(a), wb = weights(b);
  const shared = [...wa.keys()].filter((k) => wb.has(k));
  const differ = shared.filter((k) => wa.get(k)!.join('x') !== wb.get(k)!.join('x'));
  const fa = basename(a.path), fb = basename(b.path);
  if (differ.length) {
    const k = differ[0];
    return `${k} is [${wa.get(k)!.join(', ')}] in A and [${wb.get(k)!.join(', ')}] in B (${differ.length} tensor${differ.length > 1 ? 's' : ''} differ in shape): ${fa} and ${fb} are not the same architecture.`;
  }
  if (shared.length < 0.5 * Math.max(wa.size, wb.size)) {
    return `only ${shared.length} of ${wa.size} tensors of A are in B (which has ${wb.size}): ${fa} and ${fb} are not the same architecture.`;
  }
  return undefined;
}

/** Opens both headers in the worker; a failure to open is left to the analysis to report. */
export async function checkPair(worker: WorkerHost, a: string, b: string): Promise<string | undefined> {
  try {
    const [la, lb] = await Promise.all([worker.open(a).promise, worker.open(b).promise]);
    return pairMismatch(la, lb);
  } catch {
    return undefined;
  }
}
