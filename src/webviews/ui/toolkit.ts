// The only module that knows about the UI component library.
//
// The design card asks for @vscode/webview-ui-toolkit (1.4.0, deprecated upstream since
// 2025-01-01, built on FAST 1.x). Everything else in the webview goes through the helpers
// below, so moving to @vscode-elements/elements means changing this file only (tag names,
// registration, and the few properties used: value, checked, disabled, appearance).
//
// CSP: FAST renders component styles with constructable stylesheets (adoptedStyleSheets) and
// writes design tokens through CSSOM; neither is subject to `style-src`. No 'unsafe-eval' and
// no 'unsafe-inline' are needed. The one allowance: FAST's focus-visible probe
// (fast-web-utilities `canUseFocusVisible`) appends an empty <style> element carrying the nonce
// of <meta property="csp-nonce">, so the page's CSP has `style-src … 'nonce-<styleNonce>'`
// with a per-load style nonce distinct from the script nonce (src/extension/webviewHtml.ts).
// Checked in headless Chromium under that CSP: no securitypolicyviolation events.
import {
  provideVSCodeDesignSystem,
  vsCodeBadge,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeProgressRing,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';

let registered = false;

/** Registers the components we use (idempotent). Call once before building the UI. */
export function registerToolkit(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeTextField(), vsCodeProgressRing(), vsCodeCheckbox(), vsCodeBadge());
}

export interface ButtonOptions {
  appearance?: 'primary' | 'secondary' | 'icon';
  /** Tooltip and accessible name (icon buttons need it). */
  title?: string;
  onClick?: (ev: Event) => void;
  className?: string;
}

/** A button; `label` is set as text (never HTML). */
export function button(label: string, opts: ButtonOptions = {}): HTMLElement {
  const b = document.createElement('vscode-button');
  b.textContent = label;
  b.setAttribute('appearance', opts.appearance ?? 'secondary');
  if (opts.title) {
    b.setAttribute('title', opts.title);
    b.setAttribute('aria-label', opts.title);
  }
  if (opts.className) b.className = opts.className;
  if (opts.onClick) b.addEventListener('click', opts.onClick);
  return b;
}

export function setDisabled(el: HTMLElement, disabled: boolean): void {
  (el as HTMLElement & { disabled: boolean }).disabled = disabled;
  el.toggleAttribute('disabled', disabled);
}

export interface TextFieldHandle {
  el: HTMLElement;
  value: string;
  focus(): void;
}

export function textField(opts: { placeholder?: string; value?: string; ariaLabel: string; onInput: (value: string) => void; className?: string }): TextFieldHandle {
  const el = document.createElement('vscode-text-field') as HTMLElement & { value: string };
  if (opts.placeholder) el.setAttribute('placeholder', opts.placeholder);
  el.setAttribute('aria-label', opts.ariaLabel);
  if (opts.className) el.className = opts.className;
  el.value = opts.value ?? '';
  el.setAttribute('value', opts.value ?? '');
  el.addEventListener('input', () => opts.onInput(el.value ?? ''));
  return {
    el,
    get value() {
      return el.value ?? '';
    },
    set value(v: string) {
      el.value = v;
    },
    focus() {
      el.focus();
    },
  };
}

export function progressRing(label = 'Working'): HTMLElement {
  const r = document.createElement('vscode-progress-ring');
  r.setAttribute('aria-label', label);
  r.className = 'progress-ring';
  return r;
}

export function checkbox(label: string, checked: boolean, onChange: (checked: boolean) => void): HTMLElement {
  const c = document.createElement('vscode-checkbox') as HTMLElement & { checked: boolean };
  c.textContent = label;
  c.checked = checked;
  c.toggleAttribute('checked', checked);
  c.addEventListener('change', () => onChange(c.checked));
  return c;
}

export function badge(text: string, title?: string): HTMLElement {
  const b = document.createElement('vscode-badge');
  b.textContent = text;
  if (title) b.setAttribute('title', title);
  return b;
}
