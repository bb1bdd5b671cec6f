-- API keys: one row per key, stored as a SHA-256 hash of its secret part only.
-- The key id is the public part the client sends along (ccf_<id>_<secret>).
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('read', 'ingest', 'admin')),
    secret_sha256 TEXT NOT NULL,
    created_at_utc TEXT NOT NULL,
    revoked_at_utc TEXT
);
CREATE INDEX ix_api_keys_tenant ON api_keys (tenant_id);
