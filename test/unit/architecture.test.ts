// The layering rules: src/analysis is a plain Node library and src/webviews is browser code;
// neither may import `vscode` (nor the webviews Node built-ins).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../helpers';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.tsx?$/.test(name)) out.push(p);
  }
  return out;
}

const importRe = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|import\(\s*['"]([^'"]+)['"]\s*\)/g;
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(importRe)].map((m) => m[1] ?? m[2] ?? m[3]);
}

test('src/analysis never imports vscode or extension code', () => {
  for (const f of sources(join(REPO_ROOT, 'src', 'analysis'))) {
    for (const spec of imports(f)) {
      assert.notEqual(spec, 'vscode', `${relative(REPO_ROOT, f)} imports vscode`);
      assert.ok(!spec.includes('/extension/') && !spec.includes('/webviews/'), `${relative(REPO_ROOT, f)} imports ${spec}`);
    }
  }
});

test('src/webviews imports neither vscode nor Node built-ins', () => {
  for (const f of sources(join(REPO_ROOT, 'src', 'webviews'))) {
    for (const spec of imports(f)) {
      assert.notEqual(spec, 'vscode', `${relative(REPO_ROOT, f)} imports vscode`);
      assert.ok(!spec.startsWith('node:') && !['fs', 'path', 'worker_threads', 'child_process'].includes(spec), `${relative(REPO_ROOT, f)} imports ${spec}`);
    }
  }
});

test('the deprecated webview-ui-toolkit is imported by exactly one module', () => {
  const users = sources(join(REPO_ROOT, 'src')).filter((f) => imports(f).some((s) => s.startsWith('@vscode/webview-ui-toolkit')));
  assert.ok(users.length <= 1, `imported by ${users.map((f) => relative(REPO_ROOT, f)).join(', ')}`);
});
