import fs from 'node:fs';
import path from 'node:path';

/**
 * Device facts read straight from procfs and sysfs: a few small reads, no library to load and no
 * helper program to spawn. Every reader returns null when its source is missing or unparsable.
 */

/** Where procfs and sysfs are mounted; tests point these at fixture trees. */
export interface DeviceSourceRoots {
  proc: string;
  sys: string;
}

export const SYSTEM_ROOTS: DeviceSourceRoots = { proc: '/proc', sys: '/sys' };

/** Cumulative CPU time of all cores, in USER_HZ ticks. */
export interface CpuTimes {
  idle: number;
  total: number;
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

async function readTextAsync(file: string): Promise<string | null> {
  try {
    return await fs.promises.readFile(file, 'utf8');
  } catch {
    return null;
  }
}

/** The aggregate `cpu` line of /proc/stat. Procfs files are generated in memory, so a sync read costs microseconds. */
export function readCpuTimes(roots: DeviceSourceRoots): CpuTimes | null {
  const line = readText(path.join(roots.proc, 'stat'))
    ?.split('\n')
    .find((l) => l.startsWith('cpu '));
  if (!line) return null;
  // user nice system idle iowait irq softirq steal; guest and guest_nice are already counted in user and nice.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 4 || ticks.some((t) => !Number.isFinite(t))) return null;
  return { idle: ticks[3] + (ticks[4] ?? 0), total: ticks.reduce((sum, t) => sum + t, 0) };
}

/** Busy share of the CPU time between two readings; null when no time passed or the counters went back (wrap, reset). */
export function cpuLoadPercent(before: CpuTimes, after: CpuTimes): number | null {
  const elapsed = after.total - before.total;
  if (elapsed <= 0) return null;
  // Tickless kernels may report iowait a little lower than before; keep idle within the elapsed time.
  const idle = Math.min(Math.max(after.idle - before.idle, 0), elapsed);
  return Math.round(((elapsed - idle) / elapsed) * 1000) / 10;
}

/** MemAvailable (the kernel's estimate of memory usable without swapping), in bytes. */
export function readMemAvailable(roots: DeviceSourceRoots): number | null {
  const match = /^MemAvailable:\s+(\d+) kB$/m.exec(readText(path.join(roots.proc, 'meminfo')) ?? '');
  return match ? Number(match[1]) * 1024 : null;
}

/** Zone types that measure the CPU or the SoC it sits in (Raspberry Pi: thermal_zone0 is cpu-thermal). */
const CPU_ZONE_TYPES = new Set(['cpu-thermal', 'cpu_thermal', 'x86_pkg_temp', 'soc', 'soc-thermal', 'soc_thermal', 'cpu']);

/**
 * CPU temperature in °C from the thermal zones: a CPU zone if there is one, else the first readable zone.
 * Async: a zone's temp may be read from the hardware by its driver (ACPI zones can take milliseconds).
 */
export async function readCpuTemperature(roots: DeviceSourceRoots): Promise<number | null> {
  const dir = path.join(roots.sys, 'class/thermal');
  let zones: string[];
  try {
    zones = (await fs.promises.readdir(dir)).filter((name) => /^thermal_zone\d+$/.test(name));
  } catch {
    return null;
  }
  // Numeric order by hand: localeCompare would page in ICU collation data for a one-off sort.
  const zoneNumber = (zone: string) => Number(zone.slice('thermal_zone'.length));
  zones.sort((a, b) => zoneNumber(a) - zoneNumber(b));
  const types = await Promise.all(zones.map((zone) => readTextAsync(path.join(dir, zone, 'type'))));
  const cpuZones = zones.filter((_, i) => CPU_ZONE_TYPES.has(types[i]?.trim().toLowerCase() ?? ''));
  for (const zone of [...cpuZones, ...zones.filter((zone) => !cpuZones.includes(zone))]) {
    const millidegrees = Number.parseInt((await readTextAsync(path.join(dir, zone, 'temp'))) ?? '', 10);
    if (Number.isFinite(millidegrees)) return Math.round(millidegrees / 100) / 10;
  }
  return null;
}

/** Values firmware vendors leave in DMI fields they did not fill in. */
const DMI_PLACEHOLDER =
  /^(to be filled by o\.e\.m\.|default string|system manufacturer|system product name|not applicable|not specified|none|n\/a|unknown|o\.e\.m\.)$/i;

/** Board model: the device tree names Raspberry Pi and other ARM boards; DMI names PCs and most VMs. */
export function readBoardModel(roots: DeviceSourceRoots): string | null {
  const deviceTree = readText(path.join(roots.proc, 'device-tree/model'))?.replace(/\0/g, '').trim();
  if (deviceTree) return deviceTree;
  const dmi = ['sys_vendor', 'product_name']
    .map((field) => readText(path.join(roots.sys, 'class/dmi/id', field))?.trim() ?? '')
    .filter((value) => value && !DMI_PLACEHOLDER.test(value));
  return dmi.join(' ') || null;
}
