import type { ExecCheck } from '../../core/job.js';
import type { Driver, TaskHandle } from '../../driver/driver.js';
import { firstLine, type CheckOutcome } from './outcome.js';

/** How an exec check names itself in its output: `exec [pg_isready -h localhost]`. */
export const describeExecCheck = (check: Pick<ExecCheck, 'command'>): string => `exec [${check.command.join(' ')}]`;

/**
 * Runs `check.command` in the task's container through the driver; passes on exit 0.
 * A task that is not running (no handle) or a driver error fails the check with its
 * message. The driver enforces `timeoutMs` itself; the caller races it too, so a driver
 * that ignores it still cannot hold the check past its timeout.
 */
export async function runExecCheck(
  driver: Pick<Driver, 'exec'>,
  handle: TaskHandle | undefined,
  task: string,
  check: Pick<ExecCheck, 'command' | 'timeoutMs'>,
): Promise<CheckOutcome> {
  const name = describeExecCheck(check);
  if (!handle) return { ok: false, output: `${name}: task ${task} is not running` };
  try {
    const { exitCode, output } = await driver.exec(handle, check.command, { timeoutMs: check.timeoutMs });
    if (exitCode === 0) return { ok: true, output: `${name}: exit 0` };
    const line = firstLine(output);
    return { ok: false, output: `${name}: exit ${exitCode}${line ? `: ${line}` : ''}` };
  } catch (e) {
    return { ok: false, output: `${name}: ${firstLine(e instanceof Error ? e.message : String(e)) || 'failed'}` };
  }
}
