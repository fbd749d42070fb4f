// The webview's one handle on VS Code: acquireVsCodeApi() may be called once; the result stays
// private to this module. Messages out are typed by the protocol.
import type { WebviewToHost } from '../../analysis/protocol';

export interface PersistedState {
  selected?: string;
  active?: string;
  filter: string;
  expanded: string[];
  logScale: boolean;
  scrollTop: number;
  /** The table's width chosen with the splitter (px); undefined: fitted to its columns. */
  tableWidth?: number;
}

const api = acquireVsCodeApi<PersistedState>();

export function post(msg: WebviewToHost): void {
  api.postMessage(msg);
}

export function loadState(): PersistedState | undefined {
  const s = api.getState();
  if (!s || typeof s !== 'object') return undefined;
  return {
    selected: typeof s.selected === 'string' ? s.selected : undefined,
    active: typeof s.active === 'string' ? s.active : undefined,
    filter: typeof s.filter === 'string' ? s.filter : '',
    expanded: Array.isArray(s.expanded) ? s.expanded.filter((x): x is string => typeof x === 'string') : [],
    logScale: s.logScale === true,
    scrollTop: typeof s.scrollTop === 'number' ? s.scrollTop : 0,
    tableWidth: typeof s.tableWidth === 'number' && Number.isFinite(s.tableWidth) ? s.tableWidth : undefined,
  };
}

let pending: PersistedState | undefined;
let timer: number | undefined;
/** Saves the state, coalescing bursts (scrolling) into one write per 200 ms. */
export function saveState(s: PersistedState): void {
  pending = s;
  if (timer !== undefined) return;
  timer = window.setTimeout(() => {
    timer = undefined;
    if (pending) api.setState(pending);
  }, 200);
}
