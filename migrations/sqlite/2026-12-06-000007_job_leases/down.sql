ALTER TABLE job_slots DROP COLUMN finished_at_utc;
ALTER TABLE job_slots DROP COLUMN lease_until_utc;
ALTER TABLE job_slots DROP COLUMN claimed_at_utc;
