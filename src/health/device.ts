import fs from 'node:fs';
import os from 'node:os';
import { systemInformation } from '../lazy';
import type { Logger } from '../log/logger';
import {
  SYSTEM_ROOTS,
  cpuLoadPercent,
  readBoardModel,
  readCpuTemperature,
  readCpuTimes,
  readMemAvailable,
  type CpuTimes,
  type DeviceSourceRoots,
} from './linux-sources';

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

/**
 * Device health, sampled in the background and served from a cache: a request never waits for a
 * sensor read. Sampling only reads (procfs, sysfs, statfs), so an idle box does no disk writes.
 * Where procfs is there (Linux, the target) it is read directly; systeminformation, which costs the
 * long-lived process over a megabyte and may spawn helper programs, is loaded only elsewhere.
 */
export class DeviceMonitor {
  private current: DeviceHealth;
  private timer: NodeJS.Timeout | undefined;
  /** undefined until read; the board does not change under a running process. */
  private model: string | null | undefined;
  private previousCpuTimes: CpuTimes | null;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly refreshSeconds: number,
    private readonly logger: Logger,
    private readonly roots: DeviceSourceRoots = SYSTEM_ROOTS,
  ) {
    this.current = this.baseline();
    // Load is a delta of two readings: counting from here gives the first sample (2 s after start)
    // an interval to measure, instead of reporting null until the second one.
    this.previousCpuTimes = readCpuTimes(roots);
  }

  private baseline(): DeviceHealth {
    const space = diskSpace(this.dataDir);
    return {
      collectedAt: new Date().toISOString(),
      arch: process.arch,
      platform: process.platform,
      model: this.model ?? null,
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
      const next = this.baseline();
      const cpuTimes = readCpuTimes(this.roots);
      if (cpuTimes) await this.readFromProcfs(next, cpuTimes);
      else await this.readWithSystemInformation(next);
      this.current = next;
    } catch (err) {
      this.logger.warn('device health sampling failed', { err });
    }
  }

  private async readFromProcfs(next: DeviceHealth, cpuTimes: CpuTimes): Promise<void> {
    if (this.model === undefined) this.model = readBoardModel(this.roots);
    next.model = this.model;
    next.cpuLoadPercent = this.previousCpuTimes ? cpuLoadPercent(this.previousCpuTimes, cpuTimes) : null;
    this.previousCpuTimes = cpuTimes;
    // Kernels before 3.14 have no MemAvailable: keep the baseline's os.freemem().
    next.memoryAvailableBytes = readMemAvailable(this.roots) ?? next.memoryAvailableBytes;
    next.cpuTemperatureCelsius = await readCpuTemperature(this.roots);
  }

  /** macOS and Windows dev machines, or a Linux without procfs mounted. */
  private async readWithSystemInformation(next: DeviceHealth): Promise<void> {
    const si = systemInformation();
    if (this.model === undefined) {
      this.model =
        readBoardModel(this.roots) ??
        (await si.system().then(
          (sys) => [sys.manufacturer, sys.model].filter(Boolean).join(' ') || null,
          () => null,
        ));
    }
    const [load, mem, temp] = await Promise.all([
      si.currentLoad().catch(() => null),
      si.mem().catch(() => null),
      si.cpuTemperature().catch(() => null),
    ]);
    next.model = this.model;
    next.cpuLoadPercent = load ? Math.round(load.currentLoad * 10) / 10 : null;
    if (mem) next.memoryAvailableBytes = mem.available;
    next.cpuTemperatureCelsius = typeof temp?.main === 'number' ? temp.main : null;
  }
}
