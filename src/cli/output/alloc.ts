import { allocName, type AllocView, type TaskState } from '../../core/alloc.js';
import type { Evaluation } from '../../core/evaluation.js';
import { shortId } from '../../lib/ids.js';
import { colorStatus, type Colors } from './color.js';
import { formatTimestamp, plural } from './format.js';

/** `api: running`, `api: starting, log: running (2 restarts)`: a task-state cell. */
export function taskStatesText(alloc: AllocView, c?: Colors): string {
  const entries = Object.entries(alloc.taskStates);
  if (entries.length === 0) return '-';
  return entries
    .map(([task, ts]) => {
      const state = ts.failed ? 'failed' : ts.state;
      const restarts = ts.restarts > 0 ? ` (${plural(ts.restarts, 'restart')})` : '';
      return `${task}: ${c ? colorStatus(c, state) : state}${restarts}`;
    })
    .join(', ');
}

/** `10.0.0.5:23041→80` per allocated port, comma-separated; `-` when none. */
export function portsText(alloc: AllocView, address: string | undefined): string {
  if (alloc.ports.length === 0) return '-';
  return alloc.ports.map((p) => `${address ?? alloc.nodeName}:${p.host}→${p.to}`).join(', ');
}

/** A person's handle on an allocation: `1a2b3c4d (hello.web[0])`. */
export function allocHandle(alloc: AllocView): string {
  return `${shortId(alloc.id)} (${allocName(alloc)})`;
}

/**
 * Why an evaluation could not place everything, one block per group:
 *   Placement failed for group web: 1 allocation unplaced (3 nodes evaluated, 1 available)
 *     2 nodes: not enough memory (needs 512 MB, most free 300 MB)
 */
export function placementFailureLines(evaluation: Evaluation, c?: Colors): string[] {
  const lines: string[] = [];
  for (const [group, f] of Object.entries(evaluation.failedPlacements)) {
    const head = `Placement failed for group ${group}: ${plural(f.unplaced, 'allocation')} unplaced (${plural(f.nodesEvaluated, 'node')} evaluated, ${f.nodesAvailable} available)`;
    lines.push(c ? c.red(head) : head);
    const explanations = f.explanations.length ? f.explanations : Object.entries(f.filtered).map(([reason, n]) => `${plural(n, 'node')}: ${reason}`);
    for (const e of explanations) lines.push(`  ${e}`);
    if (explanations.length === 0) lines.push(f.nodesEvaluated === 0 ? '  no nodes are registered: start an agent (`karu agent`) or use `karu dev`' : '  no reason given');
  }
  if (lines.length === 0 && evaluation.statusDescription) lines.push(`Evaluation ${evaluation.status}: ${evaluation.statusDescription}`);
  return lines;
}

/**
 * What went wrong with a failed allocation: its description, then the last events of
 * each task, failed tasks first, e.g. Docker's "No such image: karu/hello:9".
 */
export function failedAllocLines(alloc: AllocView, eventsPerTask = 3, c?: Colors): string[] {
  const head = `Allocation ${allocHandle(alloc)} on ${alloc.nodeName} ${alloc.clientStatus}${alloc.clientDescription ? `: ${alloc.clientDescription}` : ''}`;
  const lines = [c ? c.red(head) : head];
  const tasks = Object.entries(alloc.taskStates).sort(([, a], [, b]) => Number(b.failed) - Number(a.failed));
  for (const [task, ts] of tasks) {
    for (const ev of lastEvents(ts, eventsPerTask)) {
      lines.push(`  ${task}  ${formatTimestamp(ev.time)}  ${ev.type}${ev.message ? `: ${ev.message}` : ''}${ev.exitCode !== undefined ? ` (exit code ${ev.exitCode})` : ''}`);
    }
  }
  return lines;
}

function lastEvents(ts: TaskState, n: number) {
  return ts.events.slice(-n);
}
