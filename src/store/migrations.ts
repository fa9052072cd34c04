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
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
