// The reflector against a scripted ListerWatcher: relist on 410 (HTTP and ERROR event), watch
// again from the last resourceVersion after a drop, bookmarks, paging, no loss or duplicates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../../shared/testing/harness.js';
import { Reflector, type ListerWatcher, type ListPage, type WatchEventType } from './reflector.js';

interface Obj {
  metadata: { uid: string; resourceVersion: string };
}
const obj = (uid: string, rv: number): Obj => ({ metadata: { uid, resourceVersion: String(rv) } });

/** A tiny API server in memory: objects, a revision, a history window, open watches. */
class FakeLw implements ListerWatcher<Obj> {
  rev = 10;
  objs = new Map<string, Obj>();
  history: { rev: number; type: WatchEventType; o: Obj }[] = [];
  oldest = 0;
  watches: { rv: string; emit: (t: WatchEventType, o: unknown) => void; end: (e?: Error) => void }[] = [];
  lists: { limit: number; continue?: string }[] = [];
  failLists = 0;

  change(type: 'ADDED' | 'MODIFIED' | 'DELETED', uid: string): void {
    const o = obj(uid, ++this.rev);
    if (type === 'DELETED') this.objs.delete(uid);
    else this.objs.set(uid, o);
    this.history.push({ rev: this.rev, type, o });
    for (const w of this.watches) w.emit(type, o);
  }

  list(o: { limit: number; continue?: string }): Promise<ListPage<Obj>> {
    this.lists.push(o);
    if (this.failLists > 0) {
      this.failLists--;
      return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    }
    const all = [...this.objs.values()];
    const start = o.continue ? Number(o.continue) : 0;
    const page = all.slice(start, start + 2); // pages of 2 to exercise `continue`
    const next = start + 2 < all.length ? String(start + 2) : undefined;
    return Promise.resolve({ items: page, resourceVersion: String(this.rev), ...(next ? { continue: next } : {}) });
  }

  watch(o: { resourceVersion: string }, onEvent: (type: WatchEventType, obj: unknown) => void): { done: Promise<void>; abort(): void } {
    let end!: (e?: Error) => void;
    const done = new Promise<void>((res, rej) => (end = (e?: Error) => (e ? rej(e) : res())));
    const w = { rv: o.resourceVersion, emit: onEvent, end };
    this.watches.push(w);
    const from = Number(o.resourceVersion);
    queueMicrotask(() => {
      if (from < this.oldest) {
        onEvent('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: `too old resource version: ${from} (${this.oldest})` });
        return;
      }
      for (const h of this.history) if (h.rev > from) onEvent(h.type, h.o);
    });
    return {
      done,
      abort: () => {
        this.watches = this.watches.filter((x) => x !== w);
        end();
      },
    };
  }

  /** Drops every open watch (a connection reset, or a clean server close). */
  drop(err?: Error): void {
    const ws = this.watches;
    this.watches = [];
    for (const w of ws) w.end(err);
  }
}

function setup(lw: FakeLw) {
  const snaps: string[][] = [];
  const r = new Reflector<Obj>({
    lw,
    keyOf: (o) => o.metadata.uid,
    onChange: (items) => snaps.push(items.map((i) => i.metadata.uid).sort()),
    backoff: { initialMs: 1, maxMs: 4 },
    watchTimeoutSeconds: 60,
  });
  return { r, snaps, last: () => snaps.at(-1)?.join(',') };
}

test('reflector: lists in pages, watches from the list version, applies events', async () => {
  const lw = new FakeLw();
  for (const u of ['a', 'b', 'c']) lw.change('ADDED', u);
  const { r, last } = setup(lw);
  r.start();
  try {
    await waitFor(() => lw.watches.length === 1, { what: 'watch', timeoutMs: 5000 });
    assert.equal(lw.lists.length, 2, 'two pages of 2');
    assert.equal(lw.lists[1]!.continue, '2');
    assert.equal(lw.watches[0]!.rv, '13');
    assert.equal(last(), 'a,b,c');
    lw.change('DELETED', 'b');
    lw.change('ADDED', 'd');
    await waitFor(() => last() === 'a,c,d', { what: 'events applied', timeoutMs: 5000 });
    lw.watches[0]!.emit('BOOKMARK', { metadata: { resourceVersion: '99' } });
    assert.equal(r.lastResourceVersion, '99');
    assert.equal(r.stats.bookmarks, 1);
  } finally {
    await r.stop();
  }
});

const drops = [
  { name: 'a clean close', err: undefined, expectRelist: false },
  { name: 'a connection reset', err: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), expectRelist: false },
  { name: 'an API server restart (503)', err: Object.assign(new Error('Service Unavailable'), { statusCode: 503 }), expectRelist: false },
  { name: 'a 410 Gone answer', err: Object.assign(new Error('Gone'), { statusCode: 410 }), expectRelist: true },
];
for (const tc of drops) {
  test(`reflector: after ${tc.name} it ${tc.expectRelist ? 'relists' : 'watches again from the last version'}; nothing lost or duplicated`, async () => {
    const lw = new FakeLw();
    lw.change('ADDED', 'a');
    const { r, last } = setup(lw);
    r.start();
    try {
      await waitFor(() => lw.watches.length === 1, { what: 'watch', timeoutMs: 5000 });
      const lists = r.stats.lists;
      lw.drop(tc.err);
      // Changes while no watch is open are delivered by the next watch (or list).
      lw.change('ADDED', 'b');
      lw.change('DELETED', 'a');
      await waitFor(() => lw.watches.length === 1, { what: 'watch again', timeoutMs: 5000 });
      await waitFor(() => last() === 'b', { what: 'caught up', timeoutMs: 5000 });
      assert.equal(r.stats.lists - lists, tc.expectRelist ? 1 : 0);
      assert.deepEqual(r.items().map((o) => o.metadata.uid), ['b']);
    } finally {
      await r.stop();
    }
  });
}

test('reflector: a 410 ERROR event for a too-old version relists; deletions missed meanwhile disappear', async () => {
  const lw = new FakeLw();
  lw.change('ADDED', 'a');
  lw.change('ADDED', 'b');
  const { r, last } = setup(lw);
  r.start();
  try {
    await waitFor(() => lw.watches.length === 1, { what: 'watch', timeoutMs: 5000 });
    lw.drop(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    lw.change('DELETED', 'a');
    lw.change('ADDED', 'c');
    lw.oldest = lw.rev; // compaction: the history the reflector needs is gone
    lw.history = [];
    await waitFor(() => r.stats.expired === 1, { what: '410 seen', timeoutMs: 5000 });
    await waitFor(() => last() === 'b,c', { what: 'relisted', timeoutMs: 5000 });
    assert.equal(r.stats.lists, 2);
  } finally {
    await r.stop();
  }
});

test('reflector: a failing list backs off and retries until the server answers', async () => {
  const lw = new FakeLw();
  lw.change('ADDED', 'a');
  lw.failLists = 3;
  const { r, last } = setup(lw);
  r.start();
  try {
    await waitFor(() => last() === 'a', { what: 'listed', timeoutMs: 5000 });
    assert.equal(lw.lists.length, 4);
    assert.equal(r.stats.errors, 3);
  } finally {
    await r.stop();
  }
});

test('reflector: resumeFrom a too-old version is answered 410 and relisted', async () => {
  const lw = new FakeLw();
  lw.change('ADDED', 'a');
  lw.oldest = 5;
  const { r } = setup(lw);
  r.start();
  try {
    await waitFor(() => lw.watches.length === 1, { what: 'watch', timeoutMs: 5000 });
    r.resumeFrom('1');
    await waitFor(() => r.stats.expired === 1 && r.stats.lists === 2, { what: 'relist after 410', timeoutMs: 5000 });
  } finally {
    await r.stop();
  }
});
