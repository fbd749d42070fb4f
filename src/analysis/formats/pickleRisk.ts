// The risk report of a pickle: every global it names, classified, and every call it would
// make under torch.load(weights_only=False). Nothing here decides what is executed (nothing
// ever is); it tells the user what loading the file elsewhere would do.
import type { Risk } from './pickleGlobals';
import type { RiskCall, RiskGlobal, RiskReport } from '../core/risk';
import type { PyValue } from './pickleObjects';
import { printable, reprValue } from './pickleText';

export type { RiskCall, RiskGlobal, RiskReport } from '../core/risk';

/** Calls listed at most (a file can make millions). */
const MAX_CALLS = 200;

export class RiskRecorder {
  private readonly globals = new Map<string, RiskGlobal>();
  private readonly calls: RiskCall[] = [];
  private dropped = 0;

  global(name: string, written: string, risk: Risk): void {
    if (this.globals.has(name)) return;
    const g: RiskGlobal = { name: printable(name), risk };
    if (written !== name) g.written = printable(written);
    this.globals.set(name, g);
  }

  call(callable: string, args: PyValue[] | string, severity: RiskCall['severity'], via: RiskCall['via'], where: string): void {
    if (this.calls.length >= MAX_CALLS) {
      this.dropped++;
      return;
    }
    const text = typeof args === 'string' ? args : args.map((a) => reprValue(a, 200)).join(', ');
    this.calls.push({ callable: printable(callable), args: printable(text, 400), severity, via, where });
  }

  report(): RiskReport {
    return mergeRisk([{ verdict: 'data-only', globals: [...this.globals.values()], calls: this.calls, callsNotListed: this.dropped }]);
  }
}

const ORDER: RiskReport['verdict'][] = ['data-only', 'unknown-classes', 'calls-unknown', 'dangerous'];

/** Combines the reports of several pickles of one file (legacy streams, TorchScript constants). */
export function mergeRisk(reports: RiskReport[]): RiskReport {
  const globals = new Map<string, RiskGlobal>();
  const calls: RiskCall[] = [];
  let dropped = 0;
  for (const r of reports) {
    for (const g of r.globals) if (!globals.has(g.name)) globals.set(g.name, g);
    for (const c of r.calls) {
      if (calls.length < MAX_CALLS) calls.push(c);
      else dropped++;
    }
    dropped += r.callsNotListed;
  }
  let v = 0;
  for (const g of globals.values()) {
    if (g.risk === 'dangerous') v = 3;
    else if (g.risk === 'unknown') v = Math.max(v, 1);
  }
  for (const c of calls) v = Math.max(v, c.severity === 'dangerous' ? 3 : 2);
  return { verdict: ORDER[v], globals: [...globals.values()], calls, callsNotListed: dropped };
}

/** One line for a CLI warning or banner: what torch.load would do. */
export function riskSummary(r: RiskReport): string | undefined {
  if (r.verdict === 'data-only') return undefined;
  const dangerous = r.calls.filter((c) => c.severity === 'dangerous');
  if (r.verdict === 'dangerous') {
    if (dangerous.length) {
      const first = dangerous[0];
      const more = dangerous.length + r.callsNotListed > 1 ? ` (and ${dangerous.length - 1 + r.callsNotListed} more calls)` : '';
      return `DANGEROUS: loading this file with torch.load would call ${first.callable}(${first.args})${more}; nothing was executed here`;
    }
    const names = r.globals.filter((g) => g.risk === 'dangerous').map((g) => g.name);
    return `DANGEROUS: this file names ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}, which run code if torch.load resolves them; nothing was executed here`;
  }
  if (r.verdict === 'calls-unknown') {
    const c = r.calls[0];
    return `loading this file with torch.load would call code this viewer does not know, e.g. ${c.callable}(${c.args}); nothing was executed here`;
  }
  const names = r.globals.filter((g) => g.risk === 'unknown').map((g) => g.name);
  return `this file holds objects of ${names.length} class(es) outside the tensor allow-list (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}); shown inertly, torch.load(weights_only=True) would refuse it`;
}
