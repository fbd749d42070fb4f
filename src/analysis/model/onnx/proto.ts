// A minimal protobuf writer for the ONNX messages the engine emits (ModelProto, GraphProto,
// NodeProto, AttributeProto, TensorProto, ValueInfoProto). Field numbers are those of
// onnx/onnx.proto3; only what lowering needs is written, so no protobuf dependency.

/** Bytes of one message under construction, field by field. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(BigInt((field << 3) | wire));
  }

  private rawVarint(v: bigint): void {
    // Negative int64 values are written as their 64-bit two's complement (ten bytes).
    let x = v < 0n ? v + (1n << 64n) : v;
    const out: number[] = [];
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      out.push(b);
    } while (x > 0n);
    this.push(Uint8Array.from(out));
  }

  /** int32 / int64 / enum field. */
  int(field: number, v: number | bigint): this {
    this.tag(field, 0);
    this.rawVarint(BigInt(v));
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2);
    this.rawVarint(BigInt(b.length));
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /** Repeated int64 in packed form. */
  packedInts(field: number, vs: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of vs) inner.rawVarint(BigInt(v));
    return this.bytes(field, inner.finish());
  }

  /** Repeated float in packed form. */
  packedFloats(field: number, vs: readonly number[]): this {
    const b = new Uint8Array(vs.length * 4);
    const dv = new DataView(b.buffer);
    vs.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** onnx.TensorProto.DataType values we use. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;
export type DataTypeName = keyof typeof DataType;

/** onnx.AttributeProto.AttributeType. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export type Attr = { i: number } | { f: number } | { ints: readonly number[] } | { floats: readonly number[] } | { s: string } | { t: TensorData };

export interface TensorData {
  type: DataTypeName;
  dims: readonly number[];
  /** Little-endian element bytes (raw_data). */
  raw: Uint8Array;
}

export function tensorProto(t: TensorData, name?: string): ProtoWriter {
  const w = new ProtoWriter().packedInts(1, t.dims).int(2, DataType[t.type]);
  if (name !== undefined) w.string(8, name);
  return w.bytes(9, t.raw);
}

export function attributeProto(name: string, a: Attr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('i' in a) return w.int(3, a.i).int(20, AttrType.INT);
  if ('f' in a) return w.float(2, a.f).int(20, AttrType.FLOAT);
  if ('ints' in a) return w.packedInts(8, a.ints).int(20, AttrType.INTS);
  if ('floats' in a) return w.packedFloats(7, a.floats).int(20, AttrType.FLOATS);
  if ('s' in a) return w.string(4, a.s).int(20, AttrType.STRING);
  return w.message(5, tensorProto(a.t)).int(20, AttrType.TENSOR);
}

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  attrs?: Record<string, Attr>;
}

export function nodeProto(n: NodeSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attributeProto(k, v));
  return w;
}

/** A tensor-typed value: dims are numbers or symbolic names ('batch'). */
export interface ValueSpec {
  name: string;
  type: DataTypeName;
  dims: readonly (number | string)[];
}

export function valueInfoProto(v: ValueSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, DataType[v.type]).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  /** Constants (never weights: those are inputs, so one session serves any weights). */
  initializers: readonly (TensorData & { name: string })[];
}

/** IR version 8 pairs with opset 17 (onnx/docs/Versioning.md). */
export const IR_VERSION = 8;
export const OPSET = 17;

export function modelProto(g: GraphSpec, producer = 'checkpoint-lens'): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, nodeProto(n));
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, tensorProto(t, t.name));
  for (const i of g.inputs) graph.message(11, valueInfoProto(i));
  for (const o of g.outputs) graph.message(12, valueInfoProto(o));
  return new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, producer)
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, OPSET))
    .finish();
}

/** Element bytes of a float32 / int64 / int32 constant. */
export function rawOf(type: DataTypeName, values: ArrayLike<number>): Uint8Array {
  if (type === 'FLOAT') return new Uint8Array(Float32Array.from(values).buffer);
  if (type === 'INT32') return new Uint8Array(Int32Array.from(values).buffer);
  const b = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) b[i] = BigInt(values[i]);
  return new Uint8Array(b.buffer);
}
