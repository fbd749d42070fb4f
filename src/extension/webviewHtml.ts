// The HTML shell of the checkpoint editor webview. vscode-free (tested without VS Code).
//
// CSP: nothing but our nonce'd script runs; styles and fonts only from the extension's dist/.
// - No 'unsafe-eval': Vega runs with its expression interpreter (vega-embed `ast: true`).
// - No 'unsafe-inline' for styles: vega-embed's and vega-tooltip's injected <style> elements are
//   turned off (defaultStyle: false, tooltip.disableDefaultStyle) and their CSS is in editor.css.
//   The webview UI toolkit (FAST) styles its components with constructable stylesheets
//   (adoptedStyleSheets) and sets design tokens through CSSOM; CSP does not govern either.
//   The one thing it needs: FAST's `canUseFocusVisible()` probe appends an empty <style>
//   element, carrying the nonce it finds in <meta property="csp-nonce">. So the minimal
//   allowance is a second per-load nonce for styles (`style-src 'nonce-…'`), distinct from the
//   script nonce; no 'unsafe-inline'. Without it the probe is blocked (a CSP violation per
//   load) and FAST falls back to :focus instead of :focus-visible.
//   (FAST would fall back to <style> elements only where adoptedStyleSheets is missing, which
//   is not the case in VS Code's Chromium.)
// - img-src blob: data: lets chart PNG exports be previewed; connect-src stays 'none' so Vega's
//   loader can fetch nothing.
// File-derived strings (names, metadata, paths) are never put into this HTML: they reach the
// page in messages and are rendered with textContent.
import { randomBytes } from 'node:crypto';

export function makeNonce(): string {
  return randomBytes(18).toString('base64');
}

export function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;');
}

export function contentSecurityPolicy(cspSource: string, nonce: string, styleNonce?: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}${styleNonce ? ` 'nonce-${styleNonce}'` : ''}`,
    `img-src ${cspSource} blob: data:`,
    `font-src ${cspSource}`,
  ].join('; ') + ';';
}

export interface EditorHtmlOptions {
  /** webview.cspSource */
  cspSource: string;
  /** webview.asWebviewUri(dist/webviews/editor.js).toString() */
  scriptUri: string;
  /** webview.asWebviewUri(dist/webviews/editor.css).toString(), or several stylesheets in order */
  styleUri: string | string[];
  nonce: string;
  /** Nonce for the UI toolkit's <style> probe (see above); a different value from `nonce`. */
  styleNonce: string;
  /** Fixed text for the loading line (never file-derived). */
  loadingText?: string;
}

export function editorHtml(o: EditorHtmlOptions): string {
  for (const n of [o.nonce, o.styleNonce]) if (!/^[A-Za-z0-9+/=]+$/.test(n)) throw new Error('bad nonce');
  if (o.nonce === o.styleNonce) throw new Error('the style nonce must differ from the script nonce');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(o.cspSource, o.nonce, o.styleNonce))}">
<meta property="csp-nonce" content="${o.styleNonce}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${(Array.isArray(o.styleUri) ? o.styleUri : [o.styleUri]).map((u) => `<link rel="stylesheet" href="${escapeAttr(u)}">`).join('\n')}
<title>Checkpoint Lens</title>
</head>
<body>
<div id="app" class="app" aria-busy="true"><p class="loading">${escapeAttr(o.loadingText ?? 'Loading checkpoint…')}</p></div>
<script nonce="${o.nonce}" src="${escapeAttr(o.scriptUri)}"></script>
</body>
</html>`;
}
