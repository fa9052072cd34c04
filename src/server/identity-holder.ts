import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { certificateToPem, type CertStore } from '../pki';
import { buildDidDocument } from '../identity/did';
import { loadConnectorIdentity, type ConnectorIdentity } from '../identity/identity';
import { CERTIFICATE_CHAIN_PATH } from '../identity/did';
import type { Logger } from '../log/logger';
import { describeError } from '../errors';

/**
 * Holds the current connector identity and swaps it when the key or certificate files change
 * (`hedgerow certs renew|import` while running), so renewal needs no restart. Emits `change`.
 */
export class IdentityHolder extends EventEmitter {
  private identity: ConnectorIdentity;
  private didDoc: Promise<Record<string, unknown>> | undefined;
  private watcher: fs.FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;

  constructor(
    private readonly certStore: CertStore,
    private readonly baseUrl: string,
    private readonly logger: Logger,
  ) {
    super();
    this.identity = loadConnectorIdentity(certStore.loadIdentity(), baseUrl);
  }

  get current(): ConnectorIdentity {
    return this.identity;
  }

  didDocument(): Promise<Record<string, unknown>> {
    this.didDoc ??= buildDidDocument({
      did: this.identity.did,
      publicKey: this.identity.publicKey,
      chain: this.identity.chain,
      chainUrl: `${this.baseUrl}${CERTIFICATE_CHAIN_PATH}`, // keeps a base path (reverse proxy)
    });
    return this.didDoc;
  }

  chainPem(): string {
    return this.identity.chain.map(certificateToPem).join('');
  }

  /** Re-read key and chain; keep the old identity if the new files are unusable or change the participant. */
  reload(): boolean {
    let next: ConnectorIdentity;
    try {
      next = loadConnectorIdentity(this.certStore.loadIdentity(), this.baseUrl);
    } catch (err) {
      this.logger.error('certificate reload failed, keeping the current certificate', { error: describeError(err) });
      return false;
    }
    if (next.participantId !== this.identity.participantId) {
      this.logger.error('certificate reload refused: participant id changed, restart to change identity', {
        current: this.identity.participantId,
        proposed: next.participantId,
      });
      return false;
    }
    if (next.leaf.fingerprintSha256 === this.identity.leaf.fingerprintSha256) return false;
    this.identity = next;
    this.didDoc = undefined;
    this.logger.info('connector certificate reloaded', {
      fingerprint: next.leaf.fingerprintSha256,
      notAfter: next.leaf.notAfter.toISOString(),
    });
    this.emit('change', next);
    return true;
  }

  /** Watch the certificates directory (inotify: no polling, no disk activity while idle). */
  watch(): void {
    const names = new Set([path.basename(this.certStore.chainFile), path.basename(this.certStore.keyFile)]);
    try {
      this.watcher = fs.watch(path.dirname(this.certStore.chainFile), (_event, file) => {
        if (file && !names.has(file.toString())) return;
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => this.reload(), 250);
      });
      this.watcher.unref();
    } catch (err) {
      this.logger.warn('cannot watch the certificates directory; send SIGHUP after renewing', { error: describeError(err) });
    }
  }

  close(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
  }
}
