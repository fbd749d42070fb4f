// Hand-built GGUF bytes for malformed-file tests (and the remote tests): little-endian v3 by default.
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}
export function u64(v: bigint | number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}
export function str(s: string): Uint8Array {
  const t = new TextEncoder().encode(s);
  return concat([u64(t.length), t]);
}
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface BuiltTensor {
  name: string;
  ne: number[];
  type: number;
  data: Uint8Array;
  /** Overrides the offset computed from the data layout. */
  offset?: bigint;
}

export function buildGguf(o: { version?: number; kv: Uint8Array[][]; tensors: BuiltTensor[]; tensorCount?: bigint; kvCount?: bigint; alignment?: number }): Uint8Array {
  const align = o.alignment ?? 32;
  const infos: Uint8Array[] = [];
  let offset = 0;
  const datas: Uint8Array[] = [];
  for (const t of o.tensors) {
    infos.push(str(t.name), u32(t.ne.length), ...t.ne.map((d) => u64(d)), u32(t.type), u64(t.offset ?? BigInt(offset)));
    const padded = Math.ceil(t.data.length / align) * align;
    const d = new Uint8Array(padded);
    d.set(t.data);
    datas.push(d);
    offset += padded;
  }
  const head = concat([
    Uint8Array.from([0x47, 0x47, 0x55, 0x46]),
    u32(o.version ?? 3),
    u64(o.tensorCount ?? BigInt(o.tensors.length)),
    u64(o.kvCount ?? BigInt(o.kv.length)),
    ...o.kv.flat(),
    ...infos,
  ]);
  const pad = new Uint8Array(Math.ceil(head.length / align) * align - head.length);
  return concat([head, pad, ...datas]);
}
