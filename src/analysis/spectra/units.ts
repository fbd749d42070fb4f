// Dead and duplicated units of one layer from its weights alone (methods.md §14.2). A unit's
// incoming vector is its row of W reshaped to [out, in·k·k], with its bias appended when the
// layer has one (as in the stochastic-collapse code).
import type { Matrix } from './svd';

export interface UnitFindings {
  units: number;
  /** Units whose incoming norm is below deadThreshold × the layer's largest incoming norm. */
  dead: number;
  deadUnits: number[];
  /** Live units whose incoming vector has cosine ≥ duplicateThreshold with an earlier live unit's. */
  duplicates: number;
  /** Groups of near-identical units (first unit first), only groups of two or more. */
  duplicateGroups: number[][];
  deadThreshold: number;
  duplicateThreshold: number;
}

export const DEAD_THRESHOLD = 0.1;
export const DUPLICATE_THRESHOLD = 0.99;

/**
 * Dead units, then greedy grouping of the live ones: each unit not yet grouped starts a group
 * and takes every later ungrouped unit within the cosine threshold. O(out² · in) work.
 */
export function unitFindings(w: Matrix, bias: ArrayLike<number> | undefined, deadThreshold = DEAD_THRESHOLD, duplicateThreshold = DUPLICATE_THRESHOLD): UnitFindings {
  const { rows, cols, values } = w;
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = bias ? bias[r] * bias[r] : 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += values[o + c] * values[o + c];
    norms[r] = Math.sqrt(s);
  }
  const max = norms.reduce((a, b) => Math.max(a, b), 0);
  const deadUnits: number[] = [];
  for (let r = 0; r < rows; r++) if (!(norms[r] >= deadThreshold * max) || max === 0) deadUnits.push(r);
  const dead = new Set(deadUnits);
  const group = new Int32Array(rows).fill(-1);
  const groups: number[][] = [];
  let duplicates = 0;
  for (let i = 0; i < rows; i++) {
    if (dead.has(i) || group[i] >= 0) continue;
    const members = [i];
    group[i] = i;
    const oi = i * cols;
    for (let j = i + 1; j < rows; j++) {
      if (dead.has(j) || group[j] >= 0) continue;
      const oj = j * cols;
      let d = bias ? bias[i] * bias[j] : 0;
      for (let c = 0; c < cols; c++) d += values[oi + c] * values[oj + c];
      if (d / (norms[i] * norms[j]) >= duplicateThreshold) {
        group[j] = i;
        members.push(j);
        duplicates++;
      }
    }
    if (members.length > 1) groups.push(members);
  }
  return { units: rows, dead: deadUnits.length, deadUnits, duplicates, duplicateGroups: groups, deadThreshold, duplicateThreshold };
}
