-- ccfeed feed tables (SQLite). Generated from metadata/ccfeed.xml: one table per entity set
-- (snake_case of the set name), one column per property (snake_case of the property name),
-- plus tenant_id. See metadata/README.md for the type mapping.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    retention_days INTEGER NOT NULL DEFAULT 395 CHECK (retention_days > 0),
    created_at_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z')
);

-- Agents (lookup)
CREATE TABLE agents (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    custom_id TEXT,
    deleted_at TEXT CHECK (deleted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);

-- AgentBusinessUnitChanges (statistics)
CREATE TABLE agent_business_unit_changes (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    assigned INTEGER NOT NULL CHECK (assigned IN (0, 1)),
    business_unit_id TEXT NOT NULL,
    timestamp_utc TEXT NOT NULL CHECK (timestamp_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_agent_business_unit_changes_timestamp_utc_id ON agent_business_unit_changes (tenant_id, timestamp_utc, id);

-- AgentStates (statistics)
CREATE TABLE agent_states (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    break_name TEXT,
    duration_in_seconds INTEGER,
    is_login INTEGER NOT NULL CHECK (is_login IN (0, 1)),
    is_logout INTEGER NOT NULL CHECK (is_logout IN (0, 1)),
    logout_reason TEXT,
    start_time_utc TEXT NOT NULL CHECK (start_time_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    start_time TEXT NOT NULL CHECK (start_time GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    state TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_agent_states_start_time_utc_id ON agent_states (tenant_id, start_time_utc, id);

-- BotSegments (statistics)
CREATE TABLE bot_segments (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    bot_step_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    bot_finished_info TEXT,
    bot_finished_result TEXT,
    bot_info TEXT,
    duration_in_seconds INTEGER,
    started_at_utc TEXT NOT NULL CHECK (started_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    ended_at_utc TEXT CHECK (ended_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    result TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_bot_segments_started_at_utc_id ON bot_segments (tenant_id, started_at_utc, id);
CREATE INDEX ix_bot_segments_conversation_id ON bot_segments (tenant_id, conversation_id);

-- BotSteps (lookup)
CREATE TABLE bot_steps (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    media_group TEXT NOT NULL,
    deleted_at TEXT CHECK (deleted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);

-- BusinessUnits (lookup)
CREATE TABLE business_units (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    deleted_at TEXT CHECK (deleted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);

-- Calls (statistics)
CREATE TABLE calls (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    business_unit_id TEXT,
    channel_id TEXT NOT NULL,
    channel_phone_number TEXT,
    channel_type TEXT NOT NULL,
    conversation_ended_reason TEXT,
    customer_first_name TEXT,
    customer_id TEXT,
    customer_last_name TEXT,
    customer_phone_number TEXT,
    customer_joined_at_utc TEXT CHECK (customer_joined_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    customer_joined_at TEXT CHECK (customer_joined_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    customer_ring_duration INTEGER,
    duration_in_seconds INTEGER,
    started_at_utc TEXT NOT NULL CHECK (started_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    started_at TEXT NOT NULL CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    ended_at_utc TEXT CHECK (ended_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    ended_at TEXT CHECK (ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    hold_count INTEGER NOT NULL,
    hold_duration_in_seconds INTEGER NOT NULL,
    is_channel_closed INTEGER,
    is_channel_open INTEGER,
    is_consult INTEGER NOT NULL CHECK (is_consult IN (0, 1)),
    is_outbound INTEGER NOT NULL CHECK (is_outbound IN (0, 1)),
    next_conversation_id TEXT,
    opening_check_result TEXT,
    transfer_initiated_by TEXT,
    transfer_to_external_destination_phone_number TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_calls_started_at_utc_id ON calls (tenant_id, started_at_utc, id);
CREATE INDEX ix_calls_ended_at_utc_id ON calls (tenant_id, ended_at_utc, id);

-- CampaignRecordAdditionalPhoneNumbers (statistics)
CREATE TABLE campaign_record_additional_phone_numbers (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    campaign_record_id TEXT NOT NULL,
    phone_number TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_campaign_record_additional_phone_numbers_campaign_record_id ON campaign_record_additional_phone_numbers (tenant_id, campaign_record_id);

-- CampaignRecordCustomFields (statistics)
CREATE TABLE campaign_record_custom_fields (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    campaign_record_id TEXT NOT NULL,
    custom_field_name TEXT NOT NULL,
    custom_field_value TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_campaign_record_custom_fields_campaign_record_id ON campaign_record_custom_fields (tenant_id, campaign_record_id);

-- CampaignRecordRegistrations (statistics)
CREATE TABLE campaign_record_registrations (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    campaign_record_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    customer_first_name TEXT,
    customer_last_name TEXT,
    customer_phone TEXT NOT NULL,
    registered_at_utc TEXT NOT NULL CHECK (registered_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_campaign_record_registrations_registered_at_utc_id ON campaign_record_registrations (tenant_id, registered_at_utc, id);
CREATE INDEX ix_campaign_record_registrations_campaign_record_id ON campaign_record_registrations (tenant_id, campaign_record_id);

-- CampaignRecords (statistics)
CREATE TABLE campaign_records (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    created_at_utc TEXT NOT NULL CHECK (created_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    created_at TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    closed_at_utc TEXT CHECK (closed_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    closed_at TEXT CHECK (closed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    customer_first_name TEXT,
    customer_last_name TEXT,
    customer_phone TEXT NOT NULL,
    new_status_duration INTEGER NOT NULL,
    queued_status_duration INTEGER NOT NULL,
    rescheduled_status_duration INTEGER NOT NULL,
    status TEXT NOT NULL,
    total_customer_ring_time_in_seconds INTEGER NOT NULL,
    total_talk_time_in_seconds INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_campaign_records_created_at_utc_id ON campaign_records (tenant_id, created_at_utc, id);
CREATE INDEX ix_campaign_records_campaign_id ON campaign_records (tenant_id, campaign_id);

-- Campaigns (lookup)
CREATE TABLE campaigns (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    campaign_type TEXT NOT NULL,
    deleted_at TEXT CHECK (deleted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);

-- CapturedData (statistics)
CREATE TABLE captured_data (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    timestamp_utc TEXT NOT NULL CHECK (timestamp_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    name TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_captured_data_timestamp_utc_id ON captured_data (tenant_id, timestamp_utc, id);
CREATE INDEX ix_captured_data_conversation_id ON captured_data (tenant_id, conversation_id);

-- Channels (lookup)
CREATE TABLE channels (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    business_unit_id TEXT,
    deleted_at TEXT CHECK (deleted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);

-- Chats (statistics)
CREATE TABLE chats (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    business_unit_id TEXT,
    channel_id TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    conversation_ended_reason TEXT,
    customer_first_name TEXT,
    customer_id TEXT,
    customer_last_name TEXT,
    duration_in_seconds INTEGER,
    started_at_utc TEXT NOT NULL CHECK (started_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    started_at TEXT NOT NULL CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    ended_at_utc TEXT CHECK (ended_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    ended_at TEXT CHECK (ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    is_channel_closed INTEGER,
    is_channel_open INTEGER,
    next_conversation_id TEXT,
    opening_check_result TEXT,
    average_agent_answer_speed_in_seconds REAL,
    average_bot_answer_speed_in_seconds REAL,
    average_customer_answer_speed_in_seconds REAL,
    first_customer_answer_speed_in_seconds INTEGER,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_chats_started_at_utc_id ON chats (tenant_id, started_at_utc, id);
CREATE INDEX ix_chats_ended_at_utc_id ON chats (tenant_id, ended_at_utc, id);

-- CollectedData (statistics)
CREATE TABLE collected_data (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    workitem_id TEXT NOT NULL,
    created_at_utc TEXT NOT NULL CHECK (created_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    name TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_collected_data_created_at_utc_id ON collected_data (tenant_id, created_at_utc, id);
CREATE INDEX ix_collected_data_workitem_id ON collected_data (tenant_id, workitem_id);

-- Conversations (statistics)
CREATE TABLE conversations (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    business_unit_id TEXT,
    channel_id TEXT NOT NULL,
    channel_phone_number TEXT,
    channel_type TEXT NOT NULL,
    conversation_ended_reason TEXT,
    customer_first_name TEXT,
    customer_id TEXT,
    customer_last_name TEXT,
    customer_phone_number TEXT,
    customer_email_address TEXT,
    customer_joined_at_utc TEXT CHECK (customer_joined_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    customer_joined_at TEXT CHECK (customer_joined_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    customer_ring_duration INTEGER,
    duration_in_seconds INTEGER,
    started_at_utc TEXT NOT NULL CHECK (started_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    started_at TEXT NOT NULL CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    ended_at_utc TEXT CHECK (ended_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    ended_at TEXT CHECK (ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    hold_count INTEGER,
    hold_duration_in_seconds INTEGER,
    is_channel_closed INTEGER,
    is_channel_open INTEGER,
    in_channel_closed_duration_in_seconds INTEGER,
    in_channel_open_duration_in_seconds INTEGER,
    is_consult INTEGER CHECK (is_consult IN (0, 1)),
    is_outbound INTEGER CHECK (is_outbound IN (0, 1)),
    next_conversation_id TEXT,
    opening_check_result TEXT,
    transfer_initiated_by TEXT,
    transfer_to_external_destination_phone_number TEXT,
    average_agent_answer_speed_in_seconds REAL,
    average_bot_answer_speed_in_seconds REAL,
    average_customer_answer_speed_in_seconds REAL,
    first_customer_answer_speed_in_seconds INTEGER,
    first_reply_time_in_seconds INTEGER,
    subject TEXT,
    thread_id TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_conversations_started_at_utc_id ON conversations (tenant_id, started_at_utc, id);
CREATE INDEX ix_conversations_ended_at_utc_id ON conversations (tenant_id, ended_at_utc, id);

-- Emails (statistics)
CREATE TABLE emails (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    business_unit_id TEXT,
    channel_id TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    conversation_ended_reason TEXT,
    customer_first_name TEXT,
    customer_id TEXT,
    customer_last_name TEXT,
    customer_email_address TEXT,
    duration_in_seconds INTEGER,
    started_at_utc TEXT NOT NULL CHECK (started_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    started_at TEXT NOT NULL CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    ended_at_utc TEXT CHECK (ended_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    ended_at TEXT CHECK (ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    in_channel_closed_duration_in_seconds INTEGER,
    in_channel_open_duration_in_seconds INTEGER,
    is_outbound INTEGER NOT NULL CHECK (is_outbound IN (0, 1)),
    next_conversation_id TEXT,
    first_reply_time_in_seconds INTEGER,
    subject TEXT,
    thread_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_emails_started_at_utc_id ON emails (tenant_id, started_at_utc, id);
CREATE INDEX ix_emails_ended_at_utc_id ON emails (tenant_id, ended_at_utc, id);

-- Queues (lookup)
CREATE TABLE queues (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    routing_mode TEXT NOT NULL,
    deleted_at TEXT CHECK (deleted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);

-- QueueSegments (statistics)
CREATE TABLE queue_segments (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    queued_at_utc TEXT NOT NULL CHECK (queued_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    queued_at TEXT NOT NULL CHECK (queued_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    dequeued_at_utc TEXT CHECK (dequeued_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    dequeued_at TEXT CHECK (dequeued_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    duration_in_seconds INTEGER,
    dequeued_reason TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_queue_segments_queued_at_utc_id ON queue_segments (tenant_id, queued_at_utc, id);
CREATE INDEX ix_queue_segments_conversation_id ON queue_segments (tenant_id, conversation_id);

-- RejectedEnqueueAttempts (statistics)
CREATE TABLE rejected_enqueue_attempts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    rejected_at_utc TEXT NOT NULL CHECK (rejected_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    rejected_at TEXT NOT NULL CHECK (rejected_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    reject_reason TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_rejected_enqueue_attempts_rejected_at_utc_id ON rejected_enqueue_attempts (tenant_id, rejected_at_utc, id);
CREATE INDEX ix_rejected_enqueue_attempts_conversation_id ON rejected_enqueue_attempts (tenant_id, conversation_id);

-- Users (lookup)
CREATE TABLE users (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    custom_id TEXT,
    email_address TEXT,
    user_type TEXT NOT NULL,
    deleted_at TEXT CHECK (deleted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (tenant_id, id)
);

-- WorkitemConversationSessions (statistics)
CREATE TABLE workitem_conversation_sessions (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    workitem_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    ended_reason TEXT,
    hold_count INTEGER NOT NULL,
    last_hold_duration INTEGER,
    total_hold_duration INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_workitem_conversation_sessions_workitem_id ON workitem_conversation_sessions (tenant_id, workitem_id);
CREATE INDEX ix_workitem_conversation_sessions_conversation_id ON workitem_conversation_sessions (tenant_id, conversation_id);

-- WorkitemEvaluationData (statistics)
CREATE TABLE workitem_evaluation_data (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    evaluation_id TEXT NOT NULL,
    workitem_id TEXT NOT NULL,
    script_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_utc TEXT NOT NULL CHECK (created_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    created_at TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    name TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_workitem_evaluation_data_created_at_utc_id ON workitem_evaluation_data (tenant_id, created_at_utc, id);
CREATE INDEX ix_workitem_evaluation_data_workitem_id ON workitem_evaluation_data (tenant_id, workitem_id);
CREATE INDEX ix_workitem_evaluation_data_evaluation_id ON workitem_evaluation_data (tenant_id, evaluation_id);

-- WorkitemEvaluations (statistics)
CREATE TABLE workitem_evaluations (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    workitem_id TEXT NOT NULL,
    script_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    started_at_utc TEXT NOT NULL CHECK (started_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    started_at TEXT NOT NULL CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    ended_at_utc TEXT CHECK (ended_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    ended_at TEXT CHECK (ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_workitem_evaluations_started_at_utc_id ON workitem_evaluations (tenant_id, started_at_utc, id);
CREATE INDEX ix_workitem_evaluations_workitem_id ON workitem_evaluations (tenant_id, workitem_id);

-- Workitems (statistics)
CREATE TABLE workitems (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    queue_id TEXT,
    business_unit_id TEXT,
    primary_channel_id TEXT,
    primary_conversation_id TEXT,
    media_type TEXT NOT NULL,
    start_time_utc TEXT NOT NULL CHECK (start_time_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    start_time TEXT NOT NULL CHECK (start_time GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    end_time_utc TEXT CHECK (end_time_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    end_time TEXT CHECK (end_time GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    duration_in_seconds INTEGER,
    preview_duration INTEGER,
    active_duration_in_seconds INTEGER,
    wrap_up_duration INTEGER,
    lookup_duration INTEGER,
    result TEXT,
    completion_code TEXT,
    notes TEXT,
    agent_phone_number TEXT,
    customer_id TEXT,
    script_id TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_workitems_start_time_utc_id ON workitems (tenant_id, start_time_utc, id);
CREATE INDEX ix_workitems_end_time_utc_id ON workitems (tenant_id, end_time_utc, id);
