import type { NodeRegistration } from './control-plane.js';

/** A node registration for tests: 4 cores, 8 GB, docker healthy. */
export function aRegistration(overrides: Partial<NodeRegistration> = {}): NodeRegistration {
  return {
    name: 'n1',
    address: '127.0.0.1',
    agentUrl: 'http://127.0.0.1:1',
    resources: { cpuMhz: 4000, memoryMb: 8192 },
    attributes: { 'os.name': 'linux', 'cpu.cores': '4' },
    labels: {},
    drivers: { docker: { healthy: true, detail: 'ok' } },
    ...overrides,
  };
}
