import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ZipArchive } from '../../src/analysis/formats/zip';
import { FileSource, MemorySource } from '../../src/analysis/io/byteSource';
import { CheckpointError } from '../../src/analysis/core/errors';
import { fixture } from '../helpers';

test('reads stored, deflated and ZIP64 entries made by Python zipfile', async () => {
  const expected = JSON.parse(readFileSync(fixture('zip', 'mixed.expected.json'), 'utf8')) as Record<string, number[]>;
  const src = await FileSource.open(fixture('zip', 'mixed.zip'));
  try {
    const zip = await ZipArchive.open(src);
    assert.deepEqual(zip.entries.map((e) => e.name).sort(), Object.keys(expected).sort());
    for (const [name, bytes] of Object.entries(expected)) {
      const e = zip.get(name)!;
      assert.deepEqual(Array.from(await zip.readEntry(e, 1 << 20)), bytes, name);
    }
    // Stored entries are range-read in place: a slice of the payload, not the whole entry.
    const s = await zip.entrySource(zip.get('a.txt')!);
    assert.equal(new TextDecoder().decode(await s.read(6, 6)), 'stored');
  } finally {
    await src.close();
  }
});

test('every truncation of an archive gives a CheckpointError, never a crash', async () => {
  const bytes = new Uint8Array(readFileSync(fixture('zip', 'mixed.zip')));
  for (let n = 0; n < bytes.length; n++) {
    const src = new MemorySource(bytes.slice(0, n), 'cut.zip');
    try {
      const zip = await ZipArchive.open(src);
      for (const e of zip.entries) await zip.readEntry(e, 1 << 20);
    } catch (e) {
      assert.ok(e instanceof CheckpointError, `length ${n}: ${(e as Error).stack}`);
      assert.match((e as Error).message, /^cut\.zip/);
    }
  }
});

test('a deflated entry that inflates beyond its declared size is refused', async () => {
  const bytes = new Uint8Array(readFileSync(fixture('zip', 'mixed.zip')));
  const zip = await ZipArchive.open(new MemorySource(bytes, 'bomb.zip'));
  const e = zip.get('b.bin')!;
  e.uncompressedSize = 10; // a lying directory
  await assert.rejects(zip.readEntry(e, 1 << 20), CheckpointError);
});
