// Conversion of unpickled values to JSON-compatible Values (what the editor, the CLI's --json
// and the reports show). Inert objects become
//   {"$object": "argparse.Namespace", "args": [...], "state": {...}, "items": {...}, "list": [...]}
// ("$call" instead of "$object" when the pickle calls the global rather than instantiating it);
// keys with nothing in them are left out. OmegaConf nodes show their values.
import type { Value } from '../core/checkpoint';
import {
  PyDict,
  PyGlobal,
  PyObject,
  PySet,
  type PyValue,
  StorageRef,
  TensorRef,
  isContainer,
  isModuleObject,
  isTuple,
  pyTypeName,
} from './pickleObjects';
import { bytesRepr } from './pickleText';

type Convertible = PyValue[] | PyDict | PySet | PyObject;

function isConvertible(v: PyValue): v is Convertible {
  return isContainer(v) || (v instanceof PyObject && v.type !== 'builtins.complex' && !v.array);
}

const OMEGA_NODE = /^omegaconf\.nodes\.\w+Node$/;
const OMEGA_CONTAINER = /^omegaconf\.(dictconfig\.DictConfig|listconfig\.ListConfig)$/;

/** An OmegaConf value node stands for its value (bounded: nodes do not nest in practice). */
function unwrapNode(v: PyValue): PyValue {
  for (let i = 0; i < 8 && v instanceof PyObject && OMEGA_NODE.test(v.type) && v.state instanceof PyDict && v.state.has('_val'); i++) {
    v = v.state.get('_val') as PyValue;
  }
  return v;
}

function isEmpty(v: PyValue | undefined): boolean {
  return v === undefined || v === null || (v instanceof PyDict && v.size === 0) || (Array.isArray(v) && v.length === 0) || (v instanceof PySet && v.items.length === 0);
}

/** The parts of an inert object worth showing, as named children. */
export function objectEntries(o: PyObject): Array<[string, PyValue]> {
  const out: Array<[string, PyValue]> = [];
  if (o.args.length) out.push(['args', o.args]);
  if (OMEGA_CONTAINER.test(o.type) && o.state instanceof PyDict && o.state.has('_content')) {
    out.push(['content', o.state.get('_content') as PyValue]);
  } else if (isModuleObject(o)) {
    // A pickled nn.Module: its public attributes, and the internal tables only when non-empty.
    const st = new PyDict();
    for (const [k, v] of o.state as PyDict) if (!(typeof k === 'string' && k.startsWith('_') && isEmpty(v))) st.set(k, v);
    out.push(['state', st]);
  } else if (o.state !== undefined) out.push(['state', o.state]);
  if (o.items) out.push(['items', o.items]);
  if (o.list) out.push(['list', o.list]);
  return out;
}


export interface ValueLimits {
  /** Containers nested deeper than this become a marker string. */
  maxDepth: number;
  /** Total leaves and containers converted; the rest become a marker. */
  maxNodes: number;
}

export const DEFAULT_VALUE_LIMITS: ValueLimits = { maxDepth: 32, maxNodes: 10_000 };

export interface ConvertedValue {
  value: Value;
  /** True when depth or size limits cut something off. */
  truncated: boolean;
}

/** A dict key as it appears in dotted names: str as is, ints in decimal, other keys as Python-ish text. */
export function keyString(k: PyValue): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (typeof k === 'boolean') return k ? 'True' : 'False';
  if (k === null) return 'None';
  if (isTuple(k)) return `(${k.map((x) => (isContainer(x) ? pyTypeName(x) : keyString(x))).join(', ')})`;
  return scalarText(k);
}

/** Text for a non-container value that JSON cannot hold directly. */
function scalarText(v: PyValue): string {
  if (v instanceof Uint8Array) return v.length > 64 ? `<bytes, ${v.length}>` : bytesRepr(v);
  if (v instanceof PyGlobal) return v.path;
  if (v instanceof PyObject) {
    if (v.type === 'builtins.complex') {
      const [re = 0, im = 0] = v.args as number[];
      return `(${re}${im < 0 || Object.is(im, -0) ? '-' : '+'}${Math.abs(im)}j)`;
    }
    if (v.array) return `<ndarray ${v.array.descr} [${v.array.shape.join(', ')}]>`;
    return `<${v.type}>`;
  }
  if (v instanceof StorageRef) return `<storage ${v.key}>`;
  if (v instanceof TensorRef) return `<tensor ${v.dtype} [${v.shape.join(', ')}]>`;
  return pyTypeName(v);
}

type ValueObject = { [key: string]: Value };

/** A null-prototype object: keys such as `__proto__` become plain own properties. */
export function valueObject(): ValueObject {
  return Object.create(null) as ValueObject;
}

/**
 * Converts a Python value into a JSON-compatible Value. Iterative (explicit stack), so depth
 * costs no JS stack; cycles become "<cycle>", and depth/size limits a "…" marker.
 */
export function toValue(root: PyValue, limits: ValueLimits = DEFAULT_VALUE_LIMITS): ConvertedValue {
  let truncated = false;
  let budget = limits.maxNodes;
  const leaf = (v: PyValue): Value => {
    if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
    if (typeof v === 'bigint') return v.toString();
    return scalarText(v);
  };
  interface Frame {
    src: object;
    entries: Array<[string, PyValue]>;
    next: number;
    dst: Value[] | ValueObject;
    depth: number;
  }
  const onPath = new Set<object>();
  const open = (v: Convertible, depth: number): { frame: Frame; out: Value } => {
    const entries: Array<[string, PyValue]> =
      v instanceof PyObject
        ? objectEntries(v)
        : v instanceof PyDict
          ? [...v].map(([k, x]) => [keyString(k), x])
          : (v instanceof PySet ? v.items : v).map((x, i) => [String(i), x]);
    const dst: Value[] | ValueObject = v instanceof PyDict || v instanceof PyObject ? valueObject() : [];
    if (v instanceof PyObject) (dst as ValueObject)[v.via === 'call' ? '$call' : '$object'] = v.type;
    onPath.add(v);
    return { frame: { src: v, entries, next: 0, dst, depth }, out: dst };
  };
  const put = (f: Frame, key: string, val: Value): void => {
    if (Array.isArray(f.dst)) f.dst.push(val);
    else f.dst[key] = val;
  };

  root = unwrapNode(root);
  if (!isConvertible(root)) return { value: leaf(root), truncated };
  const first = open(root, 1);
  const stack: Frame[] = [first.frame];
  while (stack.length) {
    const f = stack[stack.length - 1];
    if (f.next >= f.entries.length) {
      onPath.delete(f.src);
      stack.pop();
      continue;
    }
    const [key, raw] = f.entries[f.next++];
    const child = unwrapNode(raw);
    if (--budget < 0) {
      truncated = true;
      put(f, key, '…');
      f.next = f.entries.length;
      continue;
    }
    if (!isConvertible(child)) put(f, key, leaf(child));
    else if (onPath.has(child)) put(f, key, '<cycle>');
    else if (f.depth >= limits.maxDepth) {
      truncated = true;
      put(f, key, '…');
    } else {
      const c = open(child, f.depth + 1);
      put(f, key, c.out);
      stack.push(c.frame);
    }
  }
  return { value: first.out, truncated };
}
