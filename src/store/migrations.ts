/**
 * Numbered, forward-only schema migrations. `PRAGMA user_version` records the last one applied.
 * Append new migrations at the end; never edit one that has shipped.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'foundation: settings and management API keys',
    sql: `
      CREATE TABLE settings (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE api_keys (
        id         TEXT PRIMARY KEY,
        label      TEXT NOT NULL,
        key_hash   TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'dataspace protocol: assets, policies, offers, negotiations, agreements, outbox, replay guard',
    sql: `
      CREATE TABLE assets (
        id           TEXT PRIMARY KEY,
        title        TEXT,
        description  TEXT,
        keywords     TEXT NOT NULL DEFAULT '[]',
        content_type TEXT,
        originator   TEXT,
        source       TEXT NOT NULL,          -- JSON; holds backend credentials, never returned by the API
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
      ) STRICT;

      CREATE TABLE policies (
        id         TEXT PRIMARY KEY,
        title      TEXT,
        policy     TEXT NOT NULL,            -- JSON: ODRL permission/prohibition/obligation
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE offers (
        id                 TEXT PRIMARY KEY,
        access_policy_id   TEXT NOT NULL REFERENCES policies (id),
        contract_policy_id TEXT NOT NULL REFERENCES policies (id),
        created_at         TEXT NOT NULL
      ) STRICT;

      CREATE TABLE offer_assets (
        offer_id TEXT NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
        asset_id TEXT NOT NULL REFERENCES assets (id),
        PRIMARY KEY (offer_id, asset_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX offer_assets_by_asset ON offer_assets (asset_id);

      CREATE TABLE negotiations (
        id                   TEXT PRIMARY KEY,  -- our pid: providerPid as provider, consumerPid as consumer
        role                 TEXT NOT NULL CHECK (role IN ('provider', 'consumer')),
        provider_pid         TEXT,
        consumer_pid         TEXT,
        counterparty_id      TEXT NOT NULL,     -- verified participant id of the other side
        counterparty_address TEXT,              -- provider DSP base URL, or consumer callback address
        counterparty_claims  TEXT NOT NULL DEFAULT '{}', -- verified attributes (certificate O, C) for policies
        state                TEXT NOT NULL,
        next_action          TEXT,              -- JSON list of messages still owed to the peer (survives restarts)
        asset_id             TEXT,
        offer_id             TEXT,
        offer                TEXT,              -- JSON of the offer under negotiation
        agreement_id         TEXT,
        error                TEXT,
        created_at           TEXT NOT NULL,
        updated_at           TEXT NOT NULL
      ) STRICT;
      -- Our own pid is unique; the counterparty's pid is only unique per counterparty.
      CREATE UNIQUE INDEX negotiations_own_provider_pid ON negotiations (provider_pid) WHERE role = 'provider';
      CREATE UNIQUE INDEX negotiations_own_consumer_pid ON negotiations (consumer_pid) WHERE role = 'consumer';
      CREATE INDEX negotiations_by_peer_pid ON negotiations (counterparty_id, consumer_pid, provider_pid);
      CREATE INDEX negotiations_pending ON negotiations (next_action) WHERE next_action IS NOT NULL;
      CREATE INDEX negotiations_by_state ON negotiations (state, updated_at);

      CREATE TABLE agreements (
        id              TEXT NOT NULL,
        negotiation_id  TEXT NOT NULL REFERENCES negotiations (id),
        role            TEXT NOT NULL CHECK (role IN ('provider', 'consumer')),
        provider_id     TEXT NOT NULL,
        consumer_id     TEXT NOT NULL,
        asset_id        TEXT NOT NULL,
        agreement       TEXT NOT NULL,          -- JSON: the DSP Agreement as exchanged
        signed_at       TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'revoked')),
        status_reason   TEXT,
        PRIMARY KEY (id, role)                  -- a connector may hold both sides of one agreement
      ) STRICT;
      CREATE INDEX agreements_by_negotiation ON agreements (negotiation_id);

      -- Timeline of every process: messages sent and received, transitions, policy decisions.
      CREATE TABLE process_events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        process_id   TEXT NOT NULL,
        at           TEXT NOT NULL,
        kind         TEXT NOT NULL,             -- received | sent | send-failed | transition | decision | note
        message_type TEXT,
        from_state   TEXT,
        to_state     TEXT,
        detail       TEXT                       -- JSON
      ) STRICT;
      CREATE INDEX process_events_by_process ON process_events (process_id, seq);

      -- Durable outbox: messages to peers, delivered in order per process, retried with backoff.
      CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        process_id      TEXT NOT NULL,
        message_type    TEXT NOT NULL,
        url             TEXT NOT NULL,
        audience        TEXT NOT NULL,          -- recipient participant id (token aud)
        body            TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,       -- epoch ms
        give_up_at      INTEGER NOT NULL,       -- epoch ms
        last_error      TEXT,
        created_at      TEXT NOT NULL
      ) STRICT;
      CREATE INDEX outbox_by_process ON outbox (process_id, id);
      CREATE INDEX outbox_due ON outbox (next_attempt_at);

      -- Token ids already accepted, kept until the token expires (replay protection).
      CREATE TABLE seen_tokens (
        jti        TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL             -- epoch seconds
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX seen_tokens_expiry ON seen_tokens (expires_at);
    `,
  },
  {
    version: 3,
    name: 'transfer processes and file digests',
    sql: `
      CREATE TABLE transfers (
        id                   TEXT PRIMARY KEY,  -- our pid: providerPid as provider, consumerPid as consumer
        role                 TEXT NOT NULL CHECK (role IN ('provider', 'consumer')),
        provider_pid         TEXT,
        consumer_pid         TEXT,
        counterparty_id      TEXT NOT NULL,
        counterparty_address TEXT,
        agreement_id         TEXT NOT NULL,
        asset_id             TEXT,
        format               TEXT NOT NULL,
        state                TEXT NOT NULL,
        next_action          TEXT,              -- JSON list of messages still owed to the peer
        data_address         TEXT,              -- JSON DataAddress: push target (provider) or pull endpoint (consumer); holds secrets
        data_status          TEXT,              -- data plane progress: pushing | pushed | downloaded
        bytes                INTEGER,
        sha256               TEXT,
        error                TEXT,
        created_at           TEXT NOT NULL,
        updated_at           TEXT NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX transfers_own_provider_pid ON transfers (provider_pid) WHERE role = 'provider';
      CREATE UNIQUE INDEX transfers_own_consumer_pid ON transfers (consumer_pid) WHERE role = 'consumer';
      CREATE INDEX transfers_by_peer_pid ON transfers (counterparty_id, consumer_pid);
      CREATE INDEX transfers_pending ON transfers (next_action) WHERE next_action IS NOT NULL;
      CREATE INDEX transfers_by_agreement ON transfers (agreement_id, state);

      -- SHA-256 of asset files by version (path, size, mtime, inode): a large file is hashed once.
      CREATE TABLE file_digests (
        fingerprint TEXT PRIMARY KEY,
        sha256      TEXT NOT NULL,
        computed_at TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    name: 'audit trail: append-only, hash-chained',
    sql: `
      CREATE TABLE audit_log (
        seq        INTEGER PRIMARY KEY,         -- 1, 2, 3, ... without gaps
        at         TEXT NOT NULL,
        process_id TEXT,                        -- agreement, negotiation or transfer id
        actor      TEXT NOT NULL,               -- participant id, 'operator', 'system'
        event      TEXT NOT NULL,
        detail     TEXT NOT NULL,               -- canonical JSON (decision traces, reasons)
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL                -- SHA-256 over prev_hash and the canonical JSON of the entry
      ) STRICT;
      CREATE INDEX audit_log_by_process ON audit_log (process_id, seq);
      CREATE INDEX audit_log_by_time ON audit_log (at);
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

      -- The chain head signed with the connector key, periodically and on export.
      CREATE TABLE audit_heads (
        seq       INTEGER PRIMARY KEY,          -- the audit_log seq the signature covers
        hash      TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        jws       TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: 'farmer consent registry',
    sql: `
      CREATE TABLE consents (
        id            TEXT PRIMARY KEY,
        originator    TEXT NOT NULL,            -- the farm or data subject
        category      TEXT,                     -- data category, e.g. parcel-yields
        purpose       TEXT NOT NULL,
        beneficiary   TEXT NOT NULL,            -- participant id that may receive the data
        valid_from    TEXT,
        valid_until   TEXT,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'granted', 'refused', 'revoked', 'expired')),
        approval_hash TEXT,                     -- SHA-256 of the one-time approval link token
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      ) STRICT;
      CREATE INDEX consents_match ON consents (originator, beneficiary, purpose, status);

      CREATE TABLE consent_history (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        consent_id TEXT NOT NULL REFERENCES consents (id),
        at         TEXT NOT NULL,
        status     TEXT NOT NULL,
        actor      TEXT NOT NULL,
        note       TEXT
      ) STRICT;
      CREATE INDEX consent_history_by_consent ON consent_history (consent_id, seq);

      -- Named groups of participants (cooperative members, ministries) for membership constraints.
      CREATE TABLE participant_groups (
        group_name     TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        added_at       TEXT NOT NULL,
        PRIMARY KEY (group_name, participant_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX participant_groups_by_participant ON participant_groups (participant_id);
    `,
  },
  {
    version: 6,
    name: 'usage control: usage counts, duties, deletion receipts',
    sql: `
      -- Accesses made under an agreement (N-times usage), counted on the provider per data access.
      CREATE TABLE usage_counts (
        agreement_id TEXT PRIMARY KEY,
        count        INTEGER NOT NULL DEFAULT 0,
        last_at      TEXT
      ) STRICT;

      -- Consumer side: received copies that must be deleted (delete duty), and when.
      CREATE TABLE deletion_duties (
        id           TEXT PRIMARY KEY,
        agreement_id TEXT NOT NULL,
        transfer_id  TEXT NOT NULL,
        path         TEXT NOT NULL,
        due_at       TEXT NOT NULL,
        provider_id  TEXT NOT NULL,
        receipt_url  TEXT,
        status       TEXT NOT NULL CHECK (status IN ('pending', 'deleted', 'receipt-sent')),
        deleted_at   TEXT,
        created_at   TEXT NOT NULL
      ) STRICT;
      CREATE INDEX deletion_duties_due ON deletion_duties (status, due_at);

      -- Provider side: signed deletion receipts received from consumers.
      CREATE TABLE deletion_receipts (
        id           TEXT PRIMARY KEY,
        agreement_id TEXT NOT NULL,
        transfer_id  TEXT,
        consumer_id  TEXT NOT NULL,
        receipt      TEXT NOT NULL,              -- the signed JWS as received
        received_at  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX deletion_receipts_by_agreement ON deletion_receipts (agreement_id);
    `,
  },
  {
    version: 7,
    name: 'open processes per peer: indexes for the quota count',
    sql: `
      -- Counting a peer's open (non-terminal) processes reads only these indexes (dsp.limits.openProcessesPerPeer).
      CREATE INDEX negotiations_by_peer_state ON negotiations (counterparty_id, state);
      CREATE INDEX transfers_by_peer_state ON transfers (counterparty_id, state);
    `,
  },
  {
    version: 8,
    name: 'usage control: a use is one transfer process (resumed downloads are not counted again)',
    sql: `
      -- Provider side: the transfer processes that have used their agreement. A process is counted once, on its
      -- first data access (GET or push); later requests of the same process (resumes, retries) are decided again
      -- but not counted. use_number is the agreement's usage count right after this use was counted (its ordinal).
      CREATE TABLE usage_uses (
        transfer_id  TEXT PRIMARY KEY,
        agreement_id TEXT NOT NULL,
        use_number   INTEGER NOT NULL,
        counted_at   TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- Transfers still open at the upgrade that already read data were counted (per request) by the older release:
      -- they keep their use, as if counted last, so that resuming them does not count again.
      INSERT INTO usage_uses (transfer_id, agreement_id, use_number, counted_at)
        SELECT t.id, t.agreement_id, u.count, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
          FROM transfers t JOIN usage_counts u ON u.agreement_id = t.agreement_id
         WHERE t.role = 'provider' AND t.state IN ('REQUESTED', 'STARTED', 'SUSPENDED') AND u.count > 0
           AND EXISTS (SELECT 1 FROM audit_log a
                        WHERE a.process_id = t.id AND a.event = 'policy.decision'
                          AND json_extract(a.detail, '$.access') IN ('GET', 'PUSH') AND json_extract(a.detail, '$.allowed') = 1);
    `,
  },
  {
    version: 9,
    name: 'assets: data category (a consent limited to a category covers only assets of that category)',
    sql: `
      -- NULL: no stated category; only a consent for every category of the originator's data covers such an asset.
      ALTER TABLE assets ADD COLUMN category TEXT;
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
