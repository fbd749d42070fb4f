// The analysis panel: one AnalysisView sent by the host (re-rendered as partial views arrive),
// the job's progress with Cancel, and exports (chart PNG/SVG, chart data and tables as
// CSV/JSON, the report as JSON) through the host's save dialog. Strings go in as textContent.
import { type AnalysisView, type FailureAction, type HostToPanel, type JobState, type JsonValue, type PanelFailure, type PanelOptionsMessage, type PanelToHost, isHostToPanel } from '../../analysis/protocol';
import { watchTheme } from '../editor/charts';
import { button, registerToolkit, setDisabled } from '../ui/toolkit';
import { htmlReport } from './htmlReport';
import { ViewRenderer, el } from './viewRender';

const api = acquireVsCodeApi<unknown>();
const post = (m: PanelToHost): void => api.postMessage(m);

let view: AnalysisView | undefined;
let job: { state: JobState; fraction: number; message?: string; failure?: PanelFailure } = { state: 'running', fraction: 0 };

const root = document.getElementById('app')!;
root.removeAttribute('aria-busy');
const head = el('header');
const jobLine = el('div', undefined, 'job');
const body = el('main', undefined, 'analysis-body');
root.replaceChildren(head, jobLine, body);
const renderer = new ViewRenderer(body, {
  chart: (c, format, content) => post({ type: 'exportView', what: 'chart', id: c.id, format, content }),
  rows: (c, format) => post({ type: 'exportView', what: 'rows', id: c.id, format }),
  table: (t, format) => post({ type: 'exportView', what: 'table', id: t.id, format }),
});

const ACTION_LABELS: Record<FailureAction, [string, string]> = {
  retry: ['Retry', 'Run the same analysis again, in a new panel in place of this one'],
  checkpoint: ['Pick another checkpoint…', 'Choose another checkpoint and run again'],
  data: ['Pick another dataset…', 'Choose another dataset and run again'],
};

/** A failed job: a heading with the cause, the file, what to try, and the buttons that can help. */
function renderFailure(f: PanelFailure): HTMLElement {
  const box = el('section', undefined, 'failure');
  box.setAttribute('role', 'alert');
  box.append(el('h2', f.cause, 'failure-cause'));
  if (f.file) box.append(el('p', `In ${f.file}`, 'failure-file'));
  if (f.analysis) box.append(el('p', `${f.analysis}: failed${job.fraction > 0 ? ` at ${Math.round(100 * job.fraction)} %${view ? ' (the charts below show what was computed before)' : ''}` : ''}.`, 'muted'));
  const tip = el('p', undefined, 'failure-try');
  tip.append(el('strong', 'What to try: '), document.createTextNode(f.tryNext));
  const buttons = el('div', undefined, 'actions');
  f.actions.forEach((a, i) => buttons.append(button(ACTION_LABELS[a][0], { appearance: i === 0 ? 'primary' : 'secondary', title: ACTION_LABELS[a][1], onClick: () => post({ type: 'failureAction', action: a }) })));
  box.append(tip, buttons);
  return box;
}

function renderJob(): void {
  if (job.state === 'failed' && job.failure) {
    jobLine.replaceChildren(renderFailure(job.failure));
    document.body.dataset.job = job.state;
    return;
  }
  const bar = el('progress');
  bar.max = 1;
  bar.value = job.fraction;
  bar.setAttribute('aria-label', 'Progress');
  // A live job (watching run folders) has no percentage: it says what it watches, and Stop.
  const watching = job.state === 'running' && /^watching\b/.test(job.message ?? '');
  const queued = job.state === 'running' && /^queued behind\b/.test(job.message ?? '');
  const label =
    watching ? `${job.message!.charAt(0).toUpperCase()}${job.message!.slice(1)}` :
    queued ? `${job.message!.charAt(0).toUpperCase()}${job.message!.slice(1)}: it starts when a worker is free.` :
    job.state === 'running' ? `Running… ${Math.round(100 * job.fraction)} %${job.message ? ` · ${job.message}` : ''}` :
    job.state === 'done' ? 'Done.' :
    job.state === 'cancelled' ? (view?.kind === 'runs' ? 'Stopped watching: the charts show every checkpoint read.' : 'Cancelled: the charts show what was computed before.') :
    `Failed${job.message ? `: ${job.message}` : ''}`;
  const state = el('span', label, `state${job.state === 'failed' ? ' bad' : ''}`);
  state.setAttribute('role', 'status');
  const cancel = button(watching ? 'Stop watching' : 'Cancel', { title: watching ? 'Stop watching the folders (the view keeps what was read)' : 'Cancel the analysis', onClick: () => post({ type: 'cancelJob' }) });
  setDisabled(cancel, job.state !== 'running');
  jobLine.replaceChildren(...(job.state === 'running' && !watching ? [bar] : []), state, ...(job.state === 'running' ? [cancel] : []));
  document.body.dataset.job = job.state;
}

// --- "Run again with …" ------------------------------------------------------------------

const optionsBox = el('details', undefined, 'rerun');
/** Sets the value of a `data` field once the host has picked its file. */
const dataSetters = new Map<string, (path: string) => void>();
let options: PanelOptionsMessage | undefined;

/** The form: one input per option (number, yes/no, choice), and the split the numbers are from. */
function renderOptions(m: PanelOptionsMessage): void {
  options = m;
  const wasOpen = optionsBox.open;
  const summary = el('summary', m.fields.length ? 'Run again with …' : 'Data');
  const parts: HTMLElement[] = [summary];
  if (m.measuredOn) parts.push(el('p', m.measuredOn, 'measured-on'));
  const form = el('form', undefined, 'rerun-form');
  const read: (() => [string, JsonValue])[] = [];
  for (const f of m.fields) {
    const id = `opt-${f.key}`;
    const label = el('label', f.label);
    label.htmlFor = id;
    if (f.hint) label.title = f.hint;
    const v = m.values[f.key];
    let input: HTMLInputElement | HTMLSelectElement;
    if (f.kind === 'data') {
      // A file the host picks: its name, Pick… and Clear (back to the default).
      let value = typeof v === 'string' ? v : null;
      const shown = el('span', undefined, 'opt opt-file');
      shown.id = id;
      const show = (): void => {
        shown.textContent = value ? value.split(/[\\/]/).pop()! : 'default';
        shown.title = value ?? (f.hint ?? '');
      };
      show();
      dataSetters.set(f.key, (path) => {
        value = path;
        show();
      });
      const pick = button('Pick…', { title: `Choose the ${f.label}`, onClick: () => post({ type: 'pickOption', key: f.key }) });
      const clear = button('Default', { appearance: 'secondary', title: f.hint ?? 'Back to the default', onClick: () => {
        value = null;
        show();
      } });
      read.push(() => [f.key, value]);
      const row = el('div', undefined, 'opt-row');
      row.append(label, shown, pick, clear);
      form.append(row);
      continue;
    }
    if (f.kind === 'bool') {
      const c = el('input');
      c.type = 'checkbox';
      c.checked = v === true;
      input = c;
      read.push(() => [f.key, c.checked]);
    } else if (f.kind === 'choice') {
      const sel = el('select');
      for (const ch of f.choices ?? []) {
        const o = el('option', ch);
        o.value = ch;
        o.selected = ch === v;
        sel.append(o);
      }
      input = sel;
      read.push(() => [f.key, sel.value]);
    } else {
      const n = el('input');
      n.type = 'number';
      if (f.min !== undefined) n.min = String(f.min);
      if (f.max !== undefined) n.max = String(f.max);
      n.step = f.kind === 'int' ? '1' : 'any';
      n.value = typeof v === 'number' ? String(v) : '';
      n.placeholder = f.default === null ? 'all' : String(f.default);
      input = n;
      read.push(() => [f.key, n.value.trim() === '' ? null : Number(n.value)]);
    }
    input.id = id;
    input.className = 'opt';
    const row = el('div', undefined, 'opt-row');
    row.append(label, input);
    form.append(row);
  }
  if (m.fields.length) {
    const go = button('Run again', { appearance: 'primary', title: 'Run this analysis again with these options, in a new panel beside this one', onClick: () => submit() });
    const submit = (): void => {
      if (!form.reportValidity()) return;
      post({ type: 'rerun', values: Object.fromEntries(read.map((r) => r())) });
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      submit();
    });
    form.append(go);
    parts.push(form);
  }
  optionsBox.replaceChildren(...parts);
  optionsBox.open = wasOpen || !m.fields.length;
  optionsBox.hidden = false;
}

function renderHead(v: AnalysisView): void {
  const actions = el('div', undefined, 'actions');
  actions.append(
    button('Export HTML report', {
      title: 'Save the whole panel as one self-contained HTML page (charts on white, tables, notes)',
      onClick: () => void htmlReport(v).then((content) => post({ type: 'exportView', what: 'report', format: 'html', content })),
    }),
    button('Export report JSON', { title: 'Save the full report as JSON', onClick: () => post({ type: 'exportView', what: 'report', format: 'json' }) }),
  );
  head.replaceChildren(el('h1', v.title), ...(v.subtitle ? [el('p', v.subtitle, 'muted')] : []), actions, optionsBox);
}

let queue: Promise<void> = Promise.resolve();
function show(v: AnalysisView): void {
  view = v;
  // Renders run one after another; a burst of partial views collapses to the newest.
  queue = queue
    .then(async () => {
      if (view !== v) return;
      renderHead(v);
      await renderer.render(v);
      document.body.dataset.rendered = v.complete ? 'complete' : 'partial';
    })
    .catch((e) => body.append(el('p', `The view could not be drawn: ${(e as Error).message}`, 'bad')));
}

window.addEventListener('message', (ev: MessageEvent) => {
  const msg: unknown = ev.data;
  if (!isHostToPanel(msg)) return;
  const m: HostToPanel = msg;
  if (m.type === 'view') show(m.view);
  else if (m.type === 'optionValue') dataSetters.get(m.key)?.(m.value);
  else if (m.type === 'options') {
    renderOptions(m);
    if (!head.contains(optionsBox)) head.append(optionsBox);
  } else {
    job = { state: m.state, fraction: m.fraction, message: m.message, ...(m.failure ? { failure: m.failure } : {}) };
    renderJob();
  }
});

watchTheme(() => {
  // Theme colours are read at render time: redraw every chart.
  renderer.invalidate();
  if (view) show(view);
});

registerToolkit();
renderJob();
post({ type: 'panelReady' });
