// Text forms of pickle values for messages and reports: escaped, bounded, Python-like.
import { PyDict, PyGlobal, PyObject, PySet, type PyValue, StorageRef, TensorRef, isTuple } from './pickleObjects';

export function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Text from a file for messages: control characters escaped (no terminal escapes), length capped. */
export function printable(s: string, max = 200): string {
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** Python's repr() of bytes. */
export function bytesRepr(b: Uint8Array): string {
  const q = b.includes(0x27) && !b.includes(0x22) ? 0x22 : 0x27;
  let s = '';
  for (const c of b) {
    if (c === q || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c === 0x09) s += '\\t';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c < 0x20 || c >= 0x7f) s += `\\x${c.toString(16).padStart(2, '0')}`;
    else s += String.fromCharCode(c);
  }
  const quote = String.fromCharCode(q);
  return `b${quote}${s}${quote}`;
}

/** Python's repr() of a str (single quotes, escapes). */
export function strRepr(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}'`;
}

class Text {
  constructor(readonly text: string) {}
}
const SEP = new Text(', ');
/** Items of one container rendered at most (the rest become "…"). */
const MAX_ITEMS = 64;

/**
 * A Python-like rendering of a value, for "would call os.system('…')" lines: over a bounded
 * budget of characters and items, so a huge or cyclic argument costs nothing.
 */
export function reprValue(root: PyValue, maxChars = 300): string {
  let out = '';
  const seen = new Set<object>();
  const work: Array<PyValue | Text> = [root];
  const seq = (items: Array<PyValue | Text>, list: Iterable<PyValue>, each: (v: PyValue) => Array<PyValue | Text>): void => {
    let i = 0;
    for (const a of list) {
      if (i === MAX_ITEMS) {
        items.push(SEP, new Text('…'));
        break;
      }
      if (i++) items.push(SEP);
      items.push(...each(a));
    }
  };
  while (work.length && out.length <= maxChars) {
    const x = work.shift() as PyValue | Text;
    if (x instanceof Text) out += x.text;
    else if (x === null) out += 'None';
    else if (typeof x === 'boolean') out += x ? 'True' : 'False';
    else if (typeof x === 'number' || typeof x === 'bigint') out += String(x).length > 40 ? '<large int>' : String(x);
    else if (typeof x === 'string') out += strRepr(x.length > maxChars ? `${x.slice(0, maxChars)}…` : x);
    else if (x instanceof Uint8Array) out += x.length > maxChars ? `<${x.length} bytes>` : bytesRepr(x);
    else if (x instanceof PyGlobal) out += x.path;
    else if (x instanceof StorageRef) out += `<storage ${x.key}>`;
    else if (x instanceof TensorRef) out += `<tensor ${x.dtype} [${x.shape.join(', ')}]>`;
    else if (seen.has(x)) out += '…';
    else {
      seen.add(x);
      const items: Array<PyValue | Text> = [];
      if (x instanceof PyObject) {
        items.push(new Text(`${x.type}(`));
        seq(items, x.args, (a) => [a]);
        items.push(new Text(')'));
      } else if (x instanceof PyDict) {
        items.push(new Text('{'));
        seq(items, x.keys(), (k) => [k, new Text(': '), x.get(k) as PyValue]);
        items.push(new Text('}'));
      } else {
        const list = x instanceof PySet ? x.items : x;
        const tup = isTuple(x as PyValue);
        items.push(new Text(x instanceof PySet ? '{' : tup ? '(' : '['));
        seq(items, list, (a) => [a]);
        items.push(new Text(x instanceof PySet ? '}' : tup ? (list.length === 1 ? ',)' : ')') : ']'));
      }
      work.unshift(...items);
    }
  }
  return work.length || out.length > maxChars ? `${out.slice(0, maxChars)}…` : out;
}
