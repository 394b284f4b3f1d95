import { toDisposable, type Disposable } from '../../lib/disposable.js';
import type { WatchEvent } from '../store.js';

interface Watcher {
  prefix: string;
  /** Batches waiting for delivery; `head` is the next one (avoids O(n) shift()). */
  queue: WatchEvent[][];
  head: number;
  scheduled: boolean;
  disposed: boolean;
  onEvents: (events: WatchEvent[]) => void;
  onError: ((err: Error) => void) | undefined;
}

/**
 * In-process watch fan-out. The store calls `publish` once per committed revision, right
 * after the commit and in the same tick, so every watcher sees revisions in order; each
 * watcher gets its batches later, in a microtask, so a listener never runs inside a write.
 *
 * Replay and live delivery cannot gap or overlap because `add` (replay read + register)
 * and `publish` both run synchronously: no commit can fall between them.
 */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  /** Registers a watcher whose queue starts with `replay` (already filtered, in order). */
  add(prefix: string, replay: WatchEvent[][], onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Disposable {
    const w: Watcher = { prefix, queue: replay, head: 0, scheduled: false, disposed: false, onEvents, onError };
    this.watchers.add(w);
    if (replay.length > 0) this.schedule(w);
    return toDisposable(() => this.drop(w));
  }

  /** A watch that ends at once with `err` (delivered asynchronously, like events). */
  failed(err: Error, onError?: (err: Error) => void): Disposable {
    let disposed = false;
    queueMicrotask(() => {
      if (!disposed) onError?.(err);
    });
    return toDisposable(() => {
      disposed = true;
    });
  }

  /** Hands the changes of one committed revision to every interested watcher. */
  publish(events: WatchEvent[]): void {
    for (const w of this.watchers) {
      const mine = w.prefix === '' ? events : events.filter((e) => e.key.startsWith(w.prefix));
      if (mine.length === 0) continue;
      w.queue.push(mine);
      this.schedule(w);
    }
  }

  /** Ends every watch without calling anyone (the store is closing). */
  closeAll(): void {
    for (const w of [...this.watchers]) this.drop(w);
  }

  get size(): number {
    return this.watchers.size;
  }

  private schedule(w: Watcher): void {
    if (w.scheduled) return;
    w.scheduled = true;
    queueMicrotask(() => this.flush(w));
  }

  private flush(w: Watcher): void {
    w.scheduled = false;
    // A listener may write to the store; its revision is queued behind ours and
    // delivered by this same loop, so the order still holds.
    while (!w.disposed && w.head < w.queue.length) {
      const batch = w.queue[w.head]!;
      w.queue[w.head++] = [];
      try {
        w.onEvents(batch);
      } catch (err) {
        // The listener's state is unknown now: end the watch so it re-lists (level-triggered recovery).
        this.drop(w);
        const error = err instanceof Error ? err : new Error(String(err));
        queueMicrotask(() => w.onError?.(error));
        return;
      }
    }
    if (w.head === w.queue.length) {
      w.queue = [];
      w.head = 0;
    }
  }

  private drop(w: Watcher): void {
    w.disposed = true;
    w.queue = [];
    w.head = 0;
    this.watchers.delete(w);
  }
}
