DROP TABLE job_slots;
DROP TABLE job_runs;
ALTER TABLE tenants DROP COLUMN directory_source;
