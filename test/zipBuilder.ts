// A minimal zip writer for hand-made test archives (stored members, or deflated ones given as such).
import { bytes } from './helpers';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A member given already deflated: `size` is the uncompressed size to declare and `crc` its CRC-32
 * (a bomb's members claim what they like).
 */
export interface DeflatedMember {
  deflated: Uint8Array;
  size: number;
  crc: number;
}

/** A minimal zip, as torch.save writes records: stored members, or deflated ones given as such. */
export function makeZip(entries: Array<[string, Uint8Array | DeflatedMember]>): Uint8Array {
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, member] of entries) {
    const stored = member instanceof Uint8Array;
    const data = stored ? member : member.deflated;
    const size = stored ? member.length : member.size;
    const method = stored ? 0 : 8;
    const n = new TextEncoder().encode(name);
    const crc = stored ? crc32(member) : member.crc;
    const h = new DataView(new ArrayBuffer(30));
    h.setUint32(0, 0x04034b50, true);
    h.setUint16(4, 20, true);
    h.setUint16(8, method, true);
    h.setUint32(14, crc, true);
    h.setUint32(18, data.length, true);
    h.setUint32(22, size, true);
    h.setUint16(26, n.length, true);
    locals.push(new Uint8Array(h.buffer), n, data);
    const c = new DataView(new ArrayBuffer(46));
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(10, method, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.length, true);
    c.setUint32(24, size, true);
    c.setUint16(28, n.length, true);
    c.setUint32(42, offset, true);
    central.push(new Uint8Array(c.buffer), n);
    offset += 30 + n.length + data.length;
  }
  const cdSize = central.reduce((s, b) => s + b.length, 0);
  const e = new DataView(new ArrayBuffer(22));
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, entries.length, true);
  e.setUint16(10, entries.length, true);
  e.setUint32(12, cdSize, true);
  e.setUint32(16, offset, true);
  return bytes(...locals, ...central, new Uint8Array(e.buffer));
}
