import type { ExecResult, TaskSpec } from '../driver.js';
import { fakeProgram } from './fake-script.js';

/** What a fake exec does: its result, and how long it takes on the clock. */
export interface FakeExecOutcome extends ExecResult {
  durationMs: number;
}

/** The resolv.conf Docker writes for `dns` (nameservers, then the search line); empty for the engine's default, unknown here. */
export function resolvConf(dns: TaskSpec['dns']): string {
  if (!dns) return '';
  const lines = dns.servers.map((s) => `nameserver ${s}`);
  if (dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Plays an exec'd command with the fake's script language (fake-script.ts): `echo` lines
 * make the output (stdout and stderr together, as exec reports them), `exit N` the code,
 * `sleep` the duration. `cat /etc/resolv.conf` prints the task's resolver configuration
 * (`dns`: its own, or that of the task whose network it joins). Anything else succeeds
 * silently, as a health check that the fake cannot judge should.
 */
export function playExec(command: string[], env: Record<string, string>, dns: TaskSpec['dns']): FakeExecOutcome {
  if (command[0] === 'cat' && command[1] === '/etc/resolv.conf' && command.length === 2) {
    return { exitCode: 0, output: resolvConf(dns), durationMs: 0 };
  }
  let output = '';
  let durationMs = 0;
  for (const step of fakeProgram(command[0], command.slice(1), env)) {
    switch (step.type) {
      case 'echo':
        output += `${step.text}\n`;
        break;
      case 'sleep':
        durationMs += step.ms;
        break;
      case 'exit':
        return { exitCode: step.code, output, durationMs };
      case 'forever':
      case 'ignore-term':
        break;
    }
  }
  return { exitCode: 0, output, durationMs };
}
