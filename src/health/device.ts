import fs from 'node:fs';
import os from 'node:os';
import { systemInformation } from '../lazy';
import type { Logger } from '../log/logger';

export interface DeviceHealth {
  collectedAt: string;
  arch: string;
  platform: string;
  model: string | null;
  cpuCount: number;
  cpuLoadPercent: number | null;
  loadAverage: [number, number, number];
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
  cpuTemperatureCelsius: number | null;
  dataDirFreeBytes: number | null;
  dataDirTotalBytes: number | null;
}

/** Free and total bytes of the filesystem holding `dir` (statfs: exact for this directory's mount). */
export function diskSpace(dir: string): { free: number; total: number } | null {
  try {
    const s = fs.statfsSync(dir);
    return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
  } catch {
    return null;
  }
}

/** Board model: the device tree names Raspberry Pi and other ARM boards; DMI (via systeminformation) the rest. */
async function readModel(): Promise<string | null> {
  try {
    const dt = fs.readFileSync('/proc/device-tree/model', 'utf8').replace(/\0/g, '').trim();
    if (dt) return dt;
  } catch {
    /* not a device-tree board */
  }
  try {
    const sys = await systemInformation().system();
    return [sys.manufacturer, sys.model].filter(Boolean).join(' ') || null;
  } catch {
    return null;
  }
}

/**
 * Device health, sampled in the background and served from a cache: a request never waits for a
 * sensor read. Sampling only reads (procfs, sysfs, statfs), so an idle box does no disk writes.
 */
export class DeviceMonitor {
  private current: DeviceHealth;
  private timer: NodeJS.Timeout | undefined;
  private model: string | null = null;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly refreshSeconds: number,
    private readonly logger: Logger,
  ) {
    this.current = this.baseline();
  }

  private baseline(): DeviceHealth {
    const space = diskSpace(this.dataDir);
    return {
      collectedAt: new Date().toISOString(),
      arch: process.arch,
      platform: process.platform,
      model: this.model,
      cpuCount: os.availableParallelism(),
      cpuLoadPercent: null,
      loadAverage: os.loadavg() as [number, number, number],
      memoryTotalBytes: os.totalmem(),
      memoryAvailableBytes: os.freemem(),
      cpuTemperatureCelsius: null,
      dataDirFreeBytes: space?.free ?? null,
      dataDirTotalBytes: space?.total ?? null,
    };
  }

  get snapshot(): DeviceHealth {
    return this.current;
  }

  start(): void {
    if (this.timer) return;
    // The baseline (os + statfs) is there at once; the first full sample waits until start-up is over.
    const first = setTimeout(() => void this.refresh(), 2000);
    first.unref();
    this.timer = setInterval(() => void this.refresh(), this.refreshSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Take a fresh sample; concurrent callers share one. */
  refresh(): Promise<void> {
    this.refreshing ??= this.sample().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async sample(): Promise<void> {
    try {
      this.model ??= await readModel();
      const [load, mem, temp] = await Promise.all([
        systemInformation().currentLoad().catch(() => null),
        systemInformation().mem().catch(() => null),
        systemInformation().cpuTemperature().catch(() => null),
      ]);
      const next = this.baseline();
      next.cpuLoadPercent = load ? Math.round(load.currentLoad * 10) / 10 : null;
      if (mem) next.memoryAvailableBytes = mem.available;
      next.cpuTemperatureCelsius = typeof temp?.main === 'number' ? temp.main : null;
      this.current = next;
    } catch (err) {
      this.logger.warn('device health sampling failed', { err });
    }
  }
}
