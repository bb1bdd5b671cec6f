-- A claimed slot is a lease: who claimed it when, until when the claim holds, and
-- whether the run finished. A claim whose run did not finish (the server was killed)
-- is taken over once its lease has run out, so the day's run is not lost.
ALTER TABLE job_slots ADD COLUMN claimed_at_utc TIMESTAMPTZ(3);
ALTER TABLE job_slots ADD COLUMN lease_until_utc TIMESTAMPTZ(3);
ALTER TABLE job_slots ADD COLUMN finished_at_utc TIMESTAMPTZ(3);
-- Slots claimed before leases existed count as finished.
UPDATE job_slots SET claimed_at_utc = slot_utc, lease_until_utc = slot_utc, finished_at_utc = slot_utc;
