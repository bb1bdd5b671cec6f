ALTER TABLE agent_business_unit_changes DROP COLUMN timestamp;
ALTER TABLE bot_segments DROP COLUMN started_at;
ALTER TABLE bot_segments DROP COLUMN ended_at;
ALTER TABLE campaign_record_registrations DROP COLUMN registered_at;
ALTER TABLE captured_data DROP COLUMN timestamp;
ALTER TABLE collected_data DROP COLUMN created_at;
DROP TABLE local_time_backfill;
