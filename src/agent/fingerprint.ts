import os from 'node:os';
import type { Resources } from '../core/resources.js';
import type { DriverFingerprint } from '../driver/driver.js';

/** Facts about the machine, injectable so fingerprinting is testable. */
export interface HostFacts {
  cpuCores: number;
  totalMemoryMb: number;
  osName: string;
  kernelVersion: string;
  arch: string;
}

export function hostFacts(): HostFacts {
  return {
    cpuCores: Math.max(1, os.availableParallelism?.() ?? os.cpus().length),
    totalMemoryMb: Math.floor(os.totalmem() / (1024 * 1024)),
    osName: os.platform(),
    kernelVersion: os.release(),
    arch: os.arch(),
  };
}

export interface NodeFingerprint {
  resources: Resources;
  attributes: Record<string, string>;
}

/**
 * What the node offers and what it is: cpu = cores × 1000 MHz and memory = total − the
 * reservation, unless configured; attributes = the driver's plus the host's.
 */
export function fingerprintNode(
  host: HostFacts,
  driver: DriverFingerprint,
  cfg: { cpuMhz: number | undefined; memoryMb: number | undefined; reservedMemoryMb: number },
): NodeFingerprint {
  return {
    resources: {
      cpuMhz: cfg.cpuMhz ?? host.cpuCores * 1000,
      memoryMb: cfg.memoryMb ?? Math.max(0, host.totalMemoryMb - cfg.reservedMemoryMb),
    },
    attributes: {
      ...driver.attributes,
      'os.name': host.osName,
      'kernel.version': host.kernelVersion,
      arch: host.arch,
      'cpu.cores': String(host.cpuCores),
    },
  };
}
