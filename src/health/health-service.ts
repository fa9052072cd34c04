import type { DeviceHealth, DeviceMonitor } from './device';
import type { Store } from '../store/store';
import type { IdentityHolder } from '../server/identity-holder';

export type HealthStatus = 'ok' | 'degraded' | 'failing';

export interface HealthCheck {
  status: HealthStatus;
  detail: string;
}

export interface HealthReport {
  status: HealthStatus;
  live: true;
  ready: boolean;
  version: string;
  uptimeSeconds: number;
  participantId: string;
  checks: Record<string, HealthCheck>;
  device: DeviceHealth;
}

/**
 * Liveness and readiness. Everything here reads cached values (device snapshot, certificate info)
 * or does a trivial query: a health probe must never be slow or write anything.
 */
export class HealthService {
  private readonly startedAt = Date.now();

  constructor(
    private readonly deps: {
      store: Store;
      device: DeviceMonitor;
      identity: IdentityHolder;
      diskFloorBytes: number;
      version: string;
    },
  ) {}

  private databaseCheck(): HealthCheck {
    try {
      this.deps.store.db.prepare('SELECT 1').get();
      return { status: 'ok', detail: 'database answers' };
    } catch (err) {
      return { status: 'failing', detail: `database error: ${(err as Error).message}` };
    }
  }

  private diskCheck(device: DeviceHealth): HealthCheck {
    const free = device.dataDirFreeBytes;
    if (free === null) return { status: 'degraded', detail: 'free disk space unknown' };
    const mb = Math.floor(free / 1048576);
    if (free < this.deps.diskFloorBytes) {
      return { status: 'degraded', detail: `${mb} MB free, below the floor of ${Math.floor(this.deps.diskFloorBytes / 1048576)} MB` };
    }
    return { status: 'ok', detail: `${mb} MB free` };
  }

  private certificateCheck(): HealthCheck {
    const days = Math.floor((this.deps.identity.current.leaf.notAfter.getTime() - Date.now()) / 86_400_000);
    if (days < 0) return { status: 'failing', detail: 'connector certificate expired' };
    if (days < 14) return { status: 'degraded', detail: `connector certificate expires in ${days} days` };
    return { status: 'ok', detail: `connector certificate valid for ${days} days` };
  }

  report(): HealthReport {
    const device = this.deps.device.snapshot;
    const checks = { database: this.databaseCheck(), disk: this.diskCheck(device), certificate: this.certificateCheck() };
    const statuses = Object.values(checks).map((c) => c.status);
    const status: HealthStatus = statuses.includes('failing') ? 'failing' : statuses.includes('degraded') ? 'degraded' : 'ok';
    return {
      status,
      live: true,
      ready: status === 'ok',
      version: this.deps.version,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      participantId: this.deps.identity.current.participantId,
      checks,
      device,
    };
  }
}
