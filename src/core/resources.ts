/** CPU in MHz (as Nomad: 1 core ≈ the node's per-core MHz) and memory in MB. */
export interface Resources {
  cpuMhz: number;
  memoryMb: number;
}

export const noResources = (): Resources => ({ cpuMhz: 0, memoryMb: 0 });

export function addResources(a: Resources, b: Resources): Resources {
  return { cpuMhz: a.cpuMhz + b.cpuMhz, memoryMb: a.memoryMb + b.memoryMb };
}

export function subtractResources(a: Resources, b: Resources): Resources {
  return { cpuMhz: a.cpuMhz - b.cpuMhz, memoryMb: a.memoryMb - b.memoryMb };
}
