-- Tenant-local twins of the UTC timestamps that had none (BotSegments.startedAt and
-- endedAt, AgentBusinessUnitChanges.timestamp, CampaignRecordRegistrations.registeredAt,
-- CapturedData.timestamp, CollectedData.createdAt), as every other table has them.
-- Writers fill them from now on; rows already stored are filled by the server when it
-- opens the database (it knows each tenant's time zone), from the list below, which it
-- empties as it goes.
CREATE TABLE local_time_backfill (
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL,
    utc_column_name TEXT NOT NULL,
    PRIMARY KEY (table_name, column_name)
);
ALTER TABLE agent_business_unit_changes ADD COLUMN timestamp TEXT COLLATE "C" CHECK (timestamp ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$');
ALTER TABLE bot_segments ADD COLUMN started_at TEXT COLLATE "C" CHECK (started_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$');
ALTER TABLE bot_segments ADD COLUMN ended_at TEXT COLLATE "C" CHECK (ended_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$');
ALTER TABLE campaign_record_registrations ADD COLUMN registered_at TEXT COLLATE "C" CHECK (registered_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$');
ALTER TABLE captured_data ADD COLUMN timestamp TEXT COLLATE "C" CHECK (timestamp ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$');
ALTER TABLE collected_data ADD COLUMN created_at TEXT COLLATE "C" CHECK (created_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$');
INSERT INTO local_time_backfill (table_name, column_name, utc_column_name) VALUES
    ('agent_business_unit_changes', 'timestamp', 'timestamp_utc'),
    ('bot_segments', 'started_at', 'started_at_utc'),
    ('bot_segments', 'ended_at', 'ended_at_utc'),
    ('campaign_record_registrations', 'registered_at', 'registered_at_utc'),
    ('captured_data', 'timestamp', 'timestamp_utc'),
    ('collected_data', 'created_at', 'created_at_utc');
