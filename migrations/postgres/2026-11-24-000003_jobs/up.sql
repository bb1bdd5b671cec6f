-- Where each tenant's lookups come from, and what the scheduled jobs did.
ALTER TABLE tenants ADD COLUMN directory_source TEXT;

-- One row per job run: lookup refreshes and retention purges, with their counts.
CREATE TABLE job_runs (
    id BIGSERIAL PRIMARY KEY,
    job TEXT NOT NULL CHECK (job IN ('refresh', 'purge')),
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    started_at_utc TIMESTAMPTZ(3) NOT NULL,
    finished_at_utc TIMESTAMPTZ(3) NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    message TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX ix_job_runs_tenant_job ON job_runs (tenant_id, job, started_at_utc);

-- The last scheduled slot each job completed per tenant, so a job runs once per slot
-- even with several servers or after a restart.
CREATE TABLE job_slots (
    job TEXT COLLATE "C" NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slot_utc TIMESTAMPTZ(3) NOT NULL,
    PRIMARY KEY (job, tenant_id)
);
