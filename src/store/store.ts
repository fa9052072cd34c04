import path from 'node:path';
import { DATABASE_FILE_NAME, openBookkeeping, openDatabase, type OpenOptions, type Sqlite } from './database';
import { ApiKeyRepository } from './repositories/api-keys';
import { SettingsRepository } from './repositories/settings';
import { AssetRepository } from './repositories/assets';
import { PolicyRepository } from './repositories/policies';
import { OfferRepository } from './repositories/offers';
import { NegotiationRepository } from './repositories/negotiations';
import { AgreementRepository } from './repositories/agreements';
import { ProcessEventRepository } from './repositories/process-events';
import { OutboxRepository } from './repositories/outbox';
import { SeenTokenRepository } from './repositories/seen-tokens';
import { TransferRepository } from './repositories/transfers';
import { FileDigestRepository } from './repositories/file-digests';
import { AuditRepository } from './repositories/audit';
import { ConsentRepository } from './repositories/consents';
import { GroupRepository } from './repositories/groups';
import { DeletionDutyRepository, DeletionReceiptRepository, UsageCountRepository } from './repositories/usage';

/** The connector's persistent state: one SQLite database behind small typed repositories. */
export class Store {
  readonly settings: SettingsRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly assets: AssetRepository;
  readonly policies: PolicyRepository;
  readonly offers: OfferRepository;
  readonly negotiations: NegotiationRepository;
  readonly agreements: AgreementRepository;
  readonly processEvents: ProcessEventRepository;
  readonly outbox: OutboxRepository;
  readonly seenTokens: SeenTokenRepository;
  readonly transfers: TransferRepository;
  readonly fileDigests: FileDigestRepository;
  readonly audit: AuditRepository;
  readonly consents: ConsentRepository;
  readonly groups: GroupRepository;
  readonly usage: UsageCountRepository;
  readonly deletionDuties: DeletionDutyRepository;
  readonly deletionReceipts: DeletionReceiptRepository;

  private constructor(
    readonly db: Sqlite,
    readonly file: string,
    /** Connection for bookkeeping that need not survive a power cut (see openBookkeeping). */
    private readonly bookkeeping: Sqlite | null,
  ) {
    this.settings = new SettingsRepository(db);
    this.apiKeys = new ApiKeyRepository(db);
    this.assets = new AssetRepository(db);
    this.policies = new PolicyRepository(db);
    this.offers = new OfferRepository(db);
    this.negotiations = new NegotiationRepository(db);
    this.agreements = new AgreementRepository(db);
    this.processEvents = new ProcessEventRepository(db);
    this.outbox = new OutboxRepository(db);
    this.seenTokens = new SeenTokenRepository(bookkeeping ?? db);
    this.transfers = new TransferRepository(db);
    this.fileDigests = new FileDigestRepository(db);
    this.audit = new AuditRepository(db);
    this.consents = new ConsentRepository(db);
    this.groups = new GroupRepository(db);
    this.usage = new UsageCountRepository(db);
    this.deletionDuties = new DeletionDutyRepository(db);
    this.deletionReceipts = new DeletionReceiptRepository(db);
  }

  static databaseFile(dataDir: string): string {
    return path.join(dataDir, DATABASE_FILE_NAME);
  }

  static open(dataDir: string, opts: OpenOptions = {}): Store {
    const file = Store.databaseFile(dataDir);
    const db = openDatabase(file, opts);
    return new Store(db, file, opts.readonly ? null : openBookkeeping(file, opts.busyTimeoutMs));
  }

  /** Run `fn` in an IMMEDIATE transaction (takes the write lock up front, so no upgrade deadlocks). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    if (this.bookkeeping?.open) this.bookkeeping.close();
    if (this.db.open) this.db.close();
  }
}
