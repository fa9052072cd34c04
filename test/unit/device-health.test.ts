import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeviceMonitor } from '../../src/health/device';
import { cpuLoadPercent, readBoardModel, readCpuTemperature, type DeviceSourceRoots } from '../../src/health/linux-sources';
import { silentLogger } from '../../src/log/logger';

// A /proc/stat aggregate line: user nice system idle iowait irq softirq steal guest guest_nice.
const stat = (user: number, idle: number, iowait = 0, guest = 0) =>
  `cpu  ${user} 0 0 ${idle} ${iowait} 0 0 0 ${guest} 0\ncpu0 ${user} 0 0 ${idle} ${iowait} 0 0 0 ${guest} 0\nintr 1 2 3\n`;
const MEMINFO = 'MemTotal:        3884564 kB\nMemFree:          214068 kB\nMemAvailable:    2949340 kB\nBuffers:           91712 kB\n';

let tmp: string;
let roots: DeviceSourceRoots;

/** Write fixture files under the temp root (paths relative to it, e.g. `proc/stat`). */
function writeTree(files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(tmp, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

function zone(n: number, type: string, temp?: string): Record<string, string> {
  const dir = `sys/class/thermal/thermal_zone${n}`;
  return temp === undefined ? { [`${dir}/type`]: `${type}\n` } : { [`${dir}/type`]: `${type}\n`, [`${dir}/temp`]: `${temp}\n` };
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-device-'));
  roots = { proc: path.join(tmp, 'proc'), sys: path.join(tmp, 'sys') };
});

afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('CPU load from /proc/stat', () => {
  it('is the busy share between the reading at construction and the sample', async () => {
    writeTree({ 'proc/stat': stat(1000, 9000) });
    const monitor = new DeviceMonitor(tmp, 60, silentLogger, roots);
    // +300 user (of which 100 guest, already inside user), +700 idle: 30 % busy.
    writeTree({ 'proc/stat': stat(1300, 9700, 0, 100) });
    await monitor.refresh();
    expect(monitor.snapshot.cpuLoadPercent).toBe(30);
  });

  it('is null when no time passed or the counters went back', async () => {
    writeTree({ 'proc/stat': stat(1000, 9000) });
    const monitor = new DeviceMonitor(tmp, 60, silentLogger, roots);
    await monitor.refresh();
    expect(monitor.snapshot.cpuLoadPercent).toBeNull();
    writeTree({ 'proc/stat': stat(10, 20) });
    await monitor.refresh();
    expect(monitor.snapshot.cpuLoadPercent).toBeNull();
    // The next interval counts from the reset readings.
    writeTree({ 'proc/stat': stat(60, 70) });
    await monitor.refresh();
    expect(monitor.snapshot.cpuLoadPercent).toBe(50);
  });

  it('is null on the first sample when there was nothing to count from', async () => {
    const monitor = new DeviceMonitor(tmp, 60, silentLogger, roots);
    writeTree({ 'proc/stat': stat(1000, 9000) });
    await monitor.refresh();
    expect(monitor.snapshot.cpuLoadPercent).toBeNull();
  });

  it('counts iowait as idle and keeps a dipping iowait within the interval', () => {
    expect(cpuLoadPercent({ idle: 900, total: 1000 }, { idle: 1700, total: 2000 })).toBe(20);
    expect(cpuLoadPercent({ idle: 900, total: 1000 }, { idle: 880, total: 1100 })).toBe(100);
    expect(cpuLoadPercent({ idle: 900, total: 1000 }, { idle: 2000, total: 1100 })).toBe(0);
  });
});

describe('available memory', () => {
  it('is MemAvailable from /proc/meminfo, in bytes', async () => {
    writeTree({ 'proc/stat': stat(1, 1), 'proc/meminfo': MEMINFO });
    const monitor = new DeviceMonitor(tmp, 60, silentLogger, roots);
    await monitor.refresh();
    expect(monitor.snapshot.memoryAvailableBytes).toBe(2949340 * 1024);
  });

  it('falls back to os.freemem() without MemAvailable', async () => {
    jest.spyOn(os, 'freemem').mockReturnValue(123456789);
    writeTree({ 'proc/stat': stat(1, 1), 'proc/meminfo': 'MemTotal:        3884564 kB\nMemFree:          214068 kB\n' });
    const monitor = new DeviceMonitor(tmp, 60, silentLogger, roots);
    await monitor.refresh();
    expect(monitor.snapshot.memoryAvailableBytes).toBe(123456789);
  });
});

describe('CPU temperature from the thermal zones', () => {
  it('reads the Raspberry Pi cpu-thermal zone in °C', async () => {
    writeTree(zone(0, 'cpu-thermal', '48312'));
    expect(await readCpuTemperature(roots)).toBe(48.3);
  });

  it('prefers a CPU zone over an earlier one', async () => {
    writeTree({ ...zone(0, 'acpitz', '27800'), ...zone(1, 'INT3400 Thermal'), ...zone(2, 'x86_pkg_temp', '61000') });
    expect(await readCpuTemperature(roots)).toBe(61);
  });

  it('takes the first readable zone, in numeric order, when none is a CPU zone', async () => {
    writeTree({ ...zone(10, 'gpu-thermal', '70000'), ...zone(2, 'battery'), ...zone(3, 'iwlwifi_1', '41000') });
    expect(await readCpuTemperature(roots)).toBe(41);
  });

  it('passes over a CPU zone whose temperature cannot be read', async () => {
    writeTree({ ...zone(0, 'cpu-thermal', 'garbage'), ...zone(1, 'acpitz', '35500') });
    expect(await readCpuTemperature(roots)).toBe(35.5);
  });

  it('is null without thermal zones', async () => {
    expect(await readCpuTemperature(roots)).toBeNull();
    writeTree({ 'sys/class/thermal/cooling_device0/type': 'Processor\n' });
    expect(await readCpuTemperature(roots)).toBeNull();
  });
});

describe('board model', () => {
  it('is the device-tree model, without its trailing NUL', () => {
    writeTree({
      'proc/device-tree/model': 'Raspberry Pi 4 Model B Rev 1.5\0',
      'sys/class/dmi/id/sys_vendor': 'ignored\n',
    });
    expect(readBoardModel(roots)).toBe('Raspberry Pi 4 Model B Rev 1.5');
  });

  it('is DMI vendor and product without the device tree', () => {
    writeTree({ 'sys/class/dmi/id/sys_vendor': 'QEMU\n', 'sys/class/dmi/id/product_name': 'Standard PC (Q35 + ICH9, 2009)\n' });
    expect(readBoardModel(roots)).toBe('QEMU Standard PC (Q35 + ICH9, 2009)');
  });

  it('leaves out DMI placeholders', () => {
    writeTree({ 'sys/class/dmi/id/sys_vendor': 'To Be Filled By O.E.M.\n', 'sys/class/dmi/id/product_name': 'B450M Pro4\n' });
    expect(readBoardModel(roots)).toBe('B450M Pro4');
    writeTree({ 'sys/class/dmi/id/sys_vendor': 'System manufacturer\n', 'sys/class/dmi/id/product_name': 'Default string\n' });
    expect(readBoardModel(roots)).toBeNull();
  });

  it('is null without device tree and DMI', () => {
    expect(readBoardModel(roots)).toBeNull();
  });
});

it('a sample with only /proc/stat has nulls, the os memory figure and the unchanged shape', async () => {
  writeTree({ 'proc/stat': stat(1, 1) });
  const monitor = new DeviceMonitor(tmp, 60, silentLogger, roots);
  await monitor.refresh();
  const health = monitor.snapshot;
  expect(health).toMatchObject({ model: null, cpuTemperatureCelsius: null, platform: process.platform, arch: process.arch });
  expect(health.memoryAvailableBytes).toBeGreaterThan(0);
  expect(Object.keys(health).sort()).toEqual(
    [
      'collectedAt',
      'arch',
      'platform',
      'model',
      'cpuCount',
      'cpuLoadPercent',
      'loadAverage',
      'memoryTotalBytes',
      'memoryAvailableBytes',
      'cpuTemperatureCelsius',
      'dataDirFreeBytes',
      'dataDirTotalBytes',
    ].sort(),
  );
});

describe('systeminformation', () => {
  /** A DeviceMonitor from a fresh module registry in which requiring systeminformation is recorded. */
  function monitorWithRecordedSystemInformation(): { monitor: DeviceMonitor; loads: number[] } {
    const loads: number[] = [];
    let monitor!: DeviceMonitor;
    jest.isolateModules(() => {
      jest.doMock('systeminformation', () => {
        loads.push(Date.now());
        return {
          system: async () => ({ manufacturer: 'Apple Inc.', model: 'Mac14,2' }),
          currentLoad: async () => ({ currentLoad: 12.34 }),
          mem: async () => ({ available: 4096 }),
          cpuTemperature: async () => ({ main: 55 }),
        };
      });
      const { DeviceMonitor: IsolatedMonitor } = require('../../src/health/device') as typeof import('../../src/health/device');
      monitor = new IsolatedMonitor(tmp, 60, silentLogger, roots);
    });
    return { monitor, loads };
  }

  afterEach(() => jest.dontMock('systeminformation'));

  it('is not loaded by a sample where procfs is there', async () => {
    writeTree({ 'proc/stat': stat(1, 1), 'proc/meminfo': MEMINFO, ...zone(0, 'cpu-thermal', '50000') });
    const { monitor, loads } = monitorWithRecordedSystemInformation();
    await monitor.refresh();
    expect(monitor.snapshot.cpuTemperatureCelsius).toBe(50);
    expect(loads).toHaveLength(0);
  });

  it('is the fallback without procfs', async () => {
    const { monitor, loads } = monitorWithRecordedSystemInformation();
    await monitor.refresh();
    expect(loads).toHaveLength(1);
    expect(monitor.snapshot).toMatchObject({
      model: 'Apple Inc. Mac14,2',
      cpuLoadPercent: 12.3,
      memoryAvailableBytes: 4096,
      cpuTemperatureCelsius: 55,
    });
  });
});
