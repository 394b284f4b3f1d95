import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ConflictError } from '../core/errors.js';
import type { FakeClock } from '../lib/clock.js';
import { CompactedError, type Store, type WatchEvent } from './store.js';

/**
 * What every Store implementation must do, written against the interface only so that
 * SQLite and etcd pass the same tests (like Hono's router suite). Semantics are etcd's.
 */
export interface StoreFixture {
  store: Store;
  /** Drives lease expiry. */
  clock: FakeClock;
  /** Closes the store (if still open) and opens a new one over the same data. Omit for in-memory stores. */
  reopen?: () => Promise<Store>;
  /** Closes whatever is open and removes what the fixture created. */
  cleanup(): Promise<void>;
}

export function runStoreSuite(name: string, factory: () => Promise<StoreFixture>): void {
  /** One test on a fresh store, always cleaned up; the timeout turns a missing event into a failure. */
  const test = (title: string, body: (f: StoreFixture, t: TestContext) => Promise<void>) =>
    it(title, { timeout: 10_000 }, async (t) => {
      const f = await factory();
      try {
        await body(f, t);
      } finally {
        await f.cleanup();
      }
    });

  describe(`Store conformance: ${name}`, () => {
    describe('get / put / delete', () => {
      test('reads back what was written, and undefined for a missing key', async ({ store }) => {
        assert.equal(await store.get('/a'), undefined);
        await store.put('/a', 'one');
        assert.equal((await store.get('/a'))?.value, 'one');
        await store.put('/a', 'two');
        assert.equal((await store.get('/a'))?.value, 'two');
      });

      test('deletes, reporting whether the key existed', async ({ store }) => {
        await store.put('/a', 'x');
        assert.equal(await store.delete('/a'), true);
        assert.equal(await store.get('/a'), undefined);
        assert.equal(await store.delete('/a'), false);
      });

      test('stores values byte for byte (unicode, empty, large)', async ({ store }) => {
        const big = 'x'.repeat(256 * 1024);
        await store.put('/u', 'héllo ✓ 𝄞');
        await store.put('/e', '');
        await store.put('/big', big);
        assert.equal((await store.get('/u'))?.value, 'héllo ✓ 𝄞');
        assert.equal((await store.get('/e'))?.value, '');
        assert.equal((await store.get('/big'))?.value, big);
      });
    });

    describe('revisions', () => {
      test('go up by exactly one per write, and are returned by the write', async ({ store }) => {
        const r0 = await store.revision();
        const r1 = await store.put('/a', '1');
        assert.equal(r1, r0 + 1);
        const r2 = await store.put('/b', '2');
        assert.equal(r2, r1 + 1);
        await store.delete('/a');
        assert.equal(await store.revision(), r2 + 1);
        const t = await store.txn({ compares: [], success: [{ type: 'put', key: '/c', value: '3' }, { type: 'put', key: '/d', value: '4' }, { type: 'delete', key: '/b' }] });
        assert.equal(t.revision, r2 + 2, 'a transaction counts once, however many ops');
        assert.equal(await store.revision(), r2 + 2);
      });

      test('do not move for writes that change nothing', async ({ store }) => {
        await store.put('/a', '1');
        const r = await store.revision();
        assert.equal(await store.delete('/missing'), false);
        const t = await store.txn({ compares: [{ key: '/a', target: 'value', op: '=', value: 'other' }], success: [{ type: 'put', key: '/a', value: '2' }] });
        assert.equal(t.succeeded, false);
        assert.equal(t.revision, r);
        assert.equal(await store.revision(), r);
      });

      test('track createRevision, modRevision and version per key', async ({ store }) => {
        const r1 = await store.put('/k', 'a');
        await store.put('/other', 'x');
        const r3 = await store.put('/k', 'b');
        const kv = await store.get('/k');
        assert.deepEqual({ c: kv?.createRevision, m: kv?.modRevision, v: kv?.version }, { c: r1, m: r3, v: 2 });
        await store.delete('/k');
        const r5 = await store.put('/k', 'c');
        const again = await store.get('/k');
        assert.deepEqual({ c: again?.createRevision, m: again?.modRevision, v: again?.version }, { c: r5, m: r5, v: 1 }, 'a re-created key starts over');
      });
    });

    describe('compare-and-swap', () => {
      test('expectedModRevision 0 creates only when the key is missing', async ({ store }) => {
        const r = await store.put('/a', '1', { expectedModRevision: 0 });
        await assert.rejects(store.put('/a', '2', { expectedModRevision: 0 }), ConflictError);
        const kv = await store.get('/a');
        assert.equal(kv?.value, '1', 'nothing written on conflict');
        assert.equal(await store.revision(), r, 'no revision used on conflict');
      });

      test('expectedModRevision N writes only while the key is still at N', async ({ store }) => {
        const r1 = await store.put('/a', '1');
        const r2 = await store.put('/a', '2', { expectedModRevision: r1 });
        await assert.rejects(store.put('/a', 'stale', { expectedModRevision: r1 }), (e: unknown) => e instanceof ConflictError && e.code === 'CONFLICT' && e.retryable);
        await assert.rejects(store.put('/missing', 'x', { expectedModRevision: r2 }), ConflictError);
        assert.equal((await store.get('/a'))?.value, '2');
        assert.equal(await store.get('/missing'), undefined);
      });

      test('applies to delete too', async ({ store }) => {
        const r1 = await store.put('/a', '1');
        await store.put('/a', '2');
        await assert.rejects(store.delete('/a', { expectedModRevision: r1 }), ConflictError);
        assert.equal((await store.get('/a'))?.value, '2');
        const kv = await store.get('/a');
        assert.equal(await store.delete('/a', { expectedModRevision: kv!.modRevision }), true);
        assert.equal(await store.get('/a'), undefined);
      });
    });

    describe('txn', () => {
      test('applies every success op atomically when all compares hold', async ({ store }) => {
        const ra = await store.put('/a', '1');
        await store.put('/old', 'x');
        const t = await store.txn({
          compares: [
            { key: '/a', target: 'modRevision', op: '=', value: ra },
            { key: '/a', target: 'value', op: '=', value: '1' },
            { key: '/b', target: 'exists', value: false },
            { key: '/a', target: 'exists', value: true },
          ],
          success: [{ type: 'put', key: '/a', value: '2' }, { type: 'put', key: '/b', value: 'new' }, { type: 'delete', key: '/old' }],
          failure: [{ type: 'put', key: '/failed', value: 'yes' }],
        });
        assert.equal(t.succeeded, true);
        assert.equal((await store.get('/a'))?.value, '2');
        assert.equal((await store.get('/b'))?.value, 'new');
        assert.equal(await store.get('/old'), undefined);
        assert.equal(await store.get('/failed'), undefined);
        assert.equal((await store.get('/a'))?.modRevision, t.revision);
        assert.equal((await store.get('/b'))?.modRevision, t.revision, 'all ops share one revision');
      });

      test('applies nothing of success when one compare fails, and runs the failure branch', async ({ store }) => {
        const ra = await store.put('/a', '1');
        const t = await store.txn({
          compares: [
            { key: '/a', target: 'modRevision', op: '=', value: ra },
            { key: '/a', target: 'value', op: '!=', value: '1' },
          ],
          success: [{ type: 'put', key: '/b', value: 'x' }, { type: 'delete', key: '/a' }],
          failure: [{ type: 'put', key: '/failed', value: 'yes' }],
        });
        assert.equal(t.succeeded, false);
        assert.equal(await store.get('/b'), undefined);
        assert.equal((await store.get('/a'))?.value, '1');
        assert.equal((await store.get('/failed'))?.value, 'yes');
        assert.equal(t.revision, ra + 1, 'the failure branch wrote one revision');
      });

      test('compares modRevision with = != < >, treating a missing key as 0', async ({ store }) => {
        const r = await store.put('/a', '1');
        const check = async (op: '=' | '!=' | '<' | '>', value: number, key = '/a') =>
          (await store.txn({ compares: [{ key, target: 'modRevision', op, value }], success: [] })).succeeded;
        assert.deepEqual(
          [await check('=', r), await check('!=', r), await check('<', r + 1), await check('<', r), await check('>', r - 1), await check('>', r)],
          [true, false, true, false, true, false],
        );
        assert.equal(await check('=', 0, '/missing'), true);
        assert.equal(await check('>', 0, '/missing'), false);
      });

      test('never matches a value compare on a missing key', async ({ store }) => {
        const eq = await store.txn({ compares: [{ key: '/missing', target: 'value', op: '=', value: '' }], success: [] });
        const ne = await store.txn({ compares: [{ key: '/missing', target: 'value', op: '!=', value: 'x' }], success: [] });
        assert.deepEqual([eq.succeeded, ne.succeeded], [false, false]);
      });

      test('deletes a prefix, and only that prefix', async ({ store }) => {
        await store.put('/p/a', '1');
        await store.put('/p/b/c', '2');
        await store.put('/pq', 'not under /p/');
        await store.put('/o', 'before');
        const before = await store.revision();
        const t = await store.txn({ compares: [], success: [{ type: 'deletePrefix', prefix: '/p/' }] });
        assert.equal(t.revision, before + 1);
        assert.deepEqual((await store.list('/p/')).items, []);
        assert.equal((await store.get('/pq'))?.value, 'not under /p/');
        assert.equal((await store.get('/o'))?.value, 'before');
      });
    });

    describe('list', () => {
      test('returns the keys under a prefix in key order, with the revision it read at', async ({ store }) => {
        for (const k of ['/n/c', '/n/a', '/m/x', '/n/b', '/na', '/n/a/deeper']) await store.put(k, k.toUpperCase());
        const r = await store.revision();
        const res = await store.list('/n/');
        assert.deepEqual(res.items.map((i) => i.key), ['/n/a', '/n/a/deeper', '/n/b', '/n/c']);
        assert.equal(res.items[0]?.value, '/N/A');
        assert.equal(res.revision, r);
        assert.equal((await store.list('/none/')).items.length, 0);
      });

      test('pages with limit and startAfter', async ({ store }) => {
        for (let i = 0; i < 7; i++) await store.put(`/k/${i}`, String(i));
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.list('/k/', { limit: 3, ...(after !== undefined && { startAfter: after }) });
          seen.push(...page.items.map((i) => i.key));
          if (page.items.length < 3) break;
          after = page.items[page.items.length - 1]!.key;
        }
        assert.deepEqual(seen, ['/k/0', '/k/1', '/k/2', '/k/3', '/k/4', '/k/5', '/k/6']);
      });

      test('returns full key-values', async ({ store }) => {
        const r = await store.put('/a', 'v');
        const [kv] = (await store.list('/a')).items;
        assert.deepEqual({ ...kv, lease: undefined }, { key: '/a', value: 'v', createRevision: r, modRevision: r, version: 1, lease: undefined });
      });
    });

    describe('watch', () => {
      test('replays every change after the given revision, then delivers live ones, batched per transaction', async ({ store }) => {
        const r1 = await store.put('/w/a', '1');
        await store.put('/w/b', '2');
        await store.delete('/w/a');
        const w = collect(store, '/w/', r1);
        await store.txn({ compares: [], success: [{ type: 'put', key: '/w/c', value: '3' }, { type: 'put', key: '/w/b', value: '22' }] });
        const batches = await w.until((b) => b.length >= 3);
        w.dispose();
        assert.deepEqual(batches.map((b) => b.map(brief)), [
          [`put /w/b=2 @${r1 + 1}`],
          [`delete /w/a @${r1 + 2}`],
          [`put /w/c=3 @${r1 + 3}`, `put /w/b=22 @${r1 + 3}`],
        ]);
        assert.equal(w.errors.length, 0);
      });

      test('has no gap and no duplicate between replay and live delivery', async ({ store }) => {
        for (let i = 0; i < 20; i++) await store.put(`/g/${i % 3}`, String(i));
        const w = collect(store, '/g/', 5);
        // Writes racing with the watch's start: each revision must arrive exactly once.
        const writes = Array.from({ length: 20 }, (_, i) => store.put(`/g/${i % 4}`, `live${i}`));
        await Promise.all(writes);
        const last = await store.revision();
        const batches = await w.until((b) => b.length > 0 && b[b.length - 1]![0]!.revision >= last);
        w.dispose();
        const revs = batches.map((b) => b[0]!.revision);
        assert.deepEqual(revs, Array.from({ length: last - 5 }, (_, i) => 6 + i));
      });

      test('includes the previous value of updated and deleted keys', async ({ store }) => {
        const r0 = await store.revision();
        const w = collect(store, '/p/', r0);
        await store.put('/p/a', '1');
        await store.put('/p/a', '2');
        await store.delete('/p/a');
        const batches = await w.until((b) => b.length >= 3);
        w.dispose();
        const events = batches.flat();
        assert.equal(events[0]!.prevValue, undefined);
        assert.deepEqual([events[1]!.value, events[1]!.prevValue], ['2', '1']);
        assert.deepEqual([events[2]!.type, events[2]!.value, events[2]!.prevValue], ['delete', undefined, '2']);
      });

      test('delivers only keys under its prefix', async ({ store }) => {
        const r0 = await store.revision();
        const w = collect(store, '/in/', r0);
        await store.put('/out/x', 'no');
        await store.put('/inx', 'no: shares characters, not the prefix');
        await store.txn({ compares: [], success: [{ type: 'put', key: '/out/y', value: 'no' }, { type: 'put', key: '/in/y', value: 'yes' }] });
        const batches = await w.until((b) => b.length >= 1);
        w.dispose();
        assert.deepEqual(batches.map((b) => b.map(brief)), [[`put /in/y=yes @${r0 + 3}`]]);
      });

      test('delivers deletePrefix and lease deletions as one batch', async ({ store }) => {
        await store.put('/d/a', '1');
        await store.put('/d/b', '2');
        const r = await store.revision();
        const w = collect(store, '/d/', r);
        await store.txn({ compares: [], success: [{ type: 'deletePrefix', prefix: '/d/' }] });
        const [batch] = await w.until((b) => b.length >= 1);
        w.dispose();
        assert.deepEqual(batch!.map(brief), [`delete /d/a @${r + 1}`, `delete /d/b @${r + 1}`]);
      });

      test('stops delivering once disposed', async ({ store }) => {
        const r0 = await store.revision();
        const disposed = collect(store, '/s/', r0);
        const witness = collect(store, '/s/', r0);
        await store.put('/s/a', '1');
        await disposed.until((b) => b.length >= 1);
        disposed.dispose();
        await store.put('/s/b', '2');
        // The witness seeing /s/b means it was delivered: the disposed watch must not have it.
        await witness.until((b) => b.length >= 2);
        witness.dispose();
        assert.equal(disposed.batches.length, 1);
      });

      test('fails with CompactedError when asked for compacted history', async ({ store }) => {
        for (let i = 0; i < 5; i++) await store.put('/c/a', String(i));
        const r = await store.revision();
        await store.compact(r);
        const err = await new Promise<Error>((resolve) => {
          store.watch('/c/', 1, () => resolve(new Error('delivered events from compacted history')), resolve);
        });
        assert.ok(err instanceof CompactedError, `got ${err.message}`);
        // From the compaction point on, the watch works.
        const w = collect(store, '/c/', r);
        const r2 = await store.put('/c/a', 'after');
        const batches = await w.until((b) => b.length >= 1);
        w.dispose();
        assert.equal(batches[0]![0]!.revision, r2);
        assert.equal((await store.get('/c/a'))?.value, 'after', 'compaction keeps current values');
      });
    });

    describe('leases', () => {
      test('deletes attached keys when the lease expires, in one revision', async ({ store, clock }) => {
        const lease = await store.grantLease(10_000);
        await store.put('/l/a', '1', { lease });
        await store.put('/l/b', '2', { lease });
        await store.put('/l/keep', '3');
        assert.equal((await store.get('/l/a'))?.lease, lease);
        const w = collect(store, '/l/', await store.revision());
        clock.advance(9_000);
        assert.equal((await store.get('/l/a'))?.value, '1', 'not yet expired');
        clock.advance(2_000);
        const [batch] = await w.until((b) => b.length >= 1);
        w.dispose();
        assert.deepEqual(batch!.map((e) => `${e.type} ${e.key} was ${e.prevValue}`), ['delete /l/a was 1', 'delete /l/b was 2']);
        assert.equal(await store.get('/l/a'), undefined);
        assert.equal(await store.get('/l/b'), undefined);
        assert.equal((await store.get('/l/keep'))?.value, '3');
      });

      test('keepAlive pushes expiry a full TTL from now', async ({ store, clock }) => {
        const lease = await store.grantLease(10_000);
        await store.put('/l/a', '1', { lease });
        const w = collect(store, '/l/', await store.revision());
        clock.advance(8_000);
        await store.keepAlive(lease);
        clock.advance(8_000);
        assert.equal((await store.get('/l/a'))?.value, '1', 'kept alive past the first TTL');
        clock.advance(3_000);
        await w.until((b) => b.length >= 1);
        w.dispose();
        assert.equal(await store.get('/l/a'), undefined);
        await assert.rejects(store.keepAlive(lease), (e: unknown) => (e as { code?: string }).code === 'NOT_FOUND', 'an expired lease cannot be kept alive');
      });

      test('deletes attached keys when revoked', async ({ store }) => {
        const lease = await store.grantLease(60_000);
        await store.put('/l/a', '1', { lease });
        await store.put('/l/b', '2', { lease });
        const r = await store.revision();
        await store.revokeLease(lease);
        assert.equal(await store.get('/l/a'), undefined);
        assert.equal(await store.get('/l/b'), undefined);
        assert.equal(await store.revision(), r + 1, 'one revision for the revocation');
      });

      test('releases a key rewritten without the lease', async ({ store }) => {
        const lease = await store.grantLease(60_000);
        await store.put('/l/a', '1', { lease });
        await store.put('/l/a', '2');
        assert.equal((await store.get('/l/a'))?.lease, undefined);
        await store.revokeLease(lease);
        assert.equal((await store.get('/l/a'))?.value, '2');
      });

      test('attaches keys through txn puts, and rejects unknown leases', async ({ store }) => {
        const lease = await store.grantLease(60_000);
        await store.txn({ compares: [], success: [{ type: 'put', key: '/l/t', value: 'x', lease }] });
        assert.equal((await store.get('/l/t'))?.lease, lease);
        await assert.rejects(store.put('/l/u', 'x', { lease: 'no-such-lease' }));
        assert.equal(await store.get('/l/u'), undefined);
      });
    });

    describe('durability', () => {
      test('keeps everything written before close after a reopen', async (f, t) => {
        if (!f.reopen) return t.skip('this fixture cannot reopen its store');
        await f.store.put('/d/a', '1');
        await f.store.txn({ compares: [], success: [{ type: 'put', key: '/d/b', value: '2' }, { type: 'put', key: '/d/a', value: '11' }] });
        const lease = await f.store.grantLease(60_000);
        await f.store.put('/d/leased', 'x', { lease });
        await f.store.delete('/d/missing'); // changes nothing, so must not move the revision, before or after reopen
        const before = { rev: await f.store.revision(), a: await f.store.get('/d/a'), list: await f.store.list('/d/') };

        const store = await f.reopen();
        assert.equal(await store.revision(), before.rev);
        assert.deepEqual(await store.get('/d/a'), before.a);
        assert.deepEqual(await store.list('/d/'), before.list);
        // Revisions carry on from where they were, and history is still there to watch.
        assert.equal(await store.put('/d/c', '3'), before.rev + 1);
        const w = collect(store, '/d/', 0);
        const batches = await w.until((b) => b.length >= 4);
        w.dispose();
        assert.deepEqual(batches.map((b) => b.length), [1, 2, 1, 1]);
        await store.keepAlive(lease);
      });
    });
  });
}

function brief(e: WatchEvent): string {
  return e.type === 'put' ? `put ${e.key}=${e.value} @${e.revision}` : `delete ${e.key} @${e.revision}`;
}

/** Records a watch's batches; `until` resolves once a condition on them holds. */
function collect(store: Store, prefix: string, fromRevision: number) {
  const batches: WatchEvent[][] = [];
  const errors: Error[] = [];
  let check: (() => void) | undefined;
  const handle = store.watch(
    prefix,
    fromRevision,
    (events) => {
      batches.push(events);
      check?.();
    },
    (err) => {
      errors.push(err);
      check?.();
    },
  );
  return {
    batches,
    errors,
    dispose: () => handle.dispose(),
    until(cond: (b: WatchEvent[][]) => boolean): Promise<WatchEvent[][]> {
      return new Promise((resolve, reject) => {
        check = () => {
          if (errors.length > 0) reject(errors[0]);
          else if (cond(batches)) resolve(batches);
        };
        check();
      });
    },
  };
}
