// Which tensors of a listing share a storage, from their storage ids. The listing names the
// others on each row only for small groups (tied weights); for a storage shared by thousands of
// views it would repeat sixteen names on every row (a million views: 300 MB of JSON for the page),
// so the page and the exports derive those rows' lists here. Pure: runs in webviews too.

export interface SharingRow {
  name: string;
  storageId?: string;
  sharesStorageWith?: string[];
}

export interface Sharing {
  /** Up to 16 other tensors on the same storage. */
  others: string[];
  /** How many other tensors share it. */
  count: number;
}

/** Names kept per storage (16 others for any member). */
const KEPT = 17;

export class StorageSharing {
  private readonly groups = new Map<string, { names: string[]; count: number }>();

  constructor(rows: Iterable<SharingRow>) {
    for (const r of rows) {
      if (r.storageId === undefined) continue;
      const g = this.groups.get(r.storageId);
      if (!g) this.groups.set(r.storageId, { names: [r.name], count: 1 });
      else {
        g.count++;
        if (g.names.length < KEPT) g.names.push(r.name);
      }
    }
  }

  /** True when another tensor shares this row's storage. */
  isShared(r: SharingRow): boolean {
    if (r.sharesStorageWith?.length) return true;
    return r.storageId !== undefined && (this.groups.get(r.storageId)?.count ?? 0) > 1;
  }

  /** The other tensors on this row's storage, or undefined when it has it alone. */
  of(r: SharingRow): Sharing | undefined {
    if (r.sharesStorageWith?.length) {
      const g = r.storageId !== undefined ? this.groups.get(r.storageId) : undefined;
      return { others: r.sharesStorageWith, count: Math.max(r.sharesStorageWith.length, (g?.count ?? 0) - 1) };
    }
    if (r.storageId === undefined) return undefined;
    const g = this.groups.get(r.storageId);
    if (!g || g.count < 2) return undefined;
    return { others: g.names.filter((n) => n !== r.name).slice(0, KEPT - 1), count: g.count - 1 };
  }
}
