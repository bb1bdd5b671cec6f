-- ccfeed feed tables (PostgreSQL). Generated from metadata/ccfeed.xml: one table per entity set
-- (snake_case of the set name), one column per property (snake_case of the property name),
-- plus tenant_id. See metadata/README.md for the type mapping.
-- Text columns use the "C" collation so that comparison and sort order are by code point, exactly as in SQLite, and the indexes serve both.

CREATE TABLE tenants (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    time_zone TEXT COLLATE "C" NOT NULL DEFAULT 'UTC',
    retention_days INTEGER NOT NULL DEFAULT 395 CHECK (retention_days > 0),
    created_at_utc TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);

-- Agents (lookup)
CREATE TABLE agents (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    custom_id TEXT COLLATE "C",
    deleted_at TIMESTAMPTZ(3),
    PRIMARY KEY (tenant_id, id)
);

-- AgentBusinessUnitChanges (statistics)
CREATE TABLE agent_business_unit_changes (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    agent_id TEXT COLLATE "C" NOT NULL,
    assigned BOOLEAN NOT NULL,
    business_unit_id TEXT COLLATE "C" NOT NULL,
    timestamp_utc TIMESTAMPTZ(3) NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_agent_business_unit_changes_timestamp_utc_id ON agent_business_unit_changes (tenant_id, timestamp_utc, id);

-- AgentStates (statistics)
CREATE TABLE agent_states (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    agent_id TEXT COLLATE "C" NOT NULL,
    break_name TEXT COLLATE "C",
    duration_in_seconds INTEGER,
    is_login BOOLEAN NOT NULL,
    is_logout BOOLEAN NOT NULL,
    logout_reason TEXT COLLATE "C",
    start_time_utc TIMESTAMPTZ(3) NOT NULL,
    start_time TEXT COLLATE "C" NOT NULL CHECK (start_time ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    state TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_agent_states_start_time_utc_id ON agent_states (tenant_id, start_time_utc, id);

-- BotSegments (statistics)
CREATE TABLE bot_segments (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    bot_step_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    bot_finished_info TEXT COLLATE "C",
    bot_finished_result TEXT COLLATE "C",
    bot_info TEXT COLLATE "C",
    duration_in_seconds INTEGER,
    started_at_utc TIMESTAMPTZ(3) NOT NULL,
    ended_at_utc TIMESTAMPTZ(3),
    result TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_bot_segments_started_at_utc_id ON bot_segments (tenant_id, started_at_utc, id);
CREATE INDEX ix_bot_segments_conversation_id ON bot_segments (tenant_id, conversation_id);

-- BotSteps (lookup)
CREATE TABLE bot_steps (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
    media_group TEXT COLLATE "C" NOT NULL,
    deleted_at TIMESTAMPTZ(3),
    PRIMARY KEY (tenant_id, id)
);

-- BusinessUnits (lookup)
CREATE TABLE business_units (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    deleted_at TIMESTAMPTZ(3),
    PRIMARY KEY (tenant_id, id)
);

-- Calls (statistics)
CREATE TABLE calls (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    business_unit_id TEXT COLLATE "C",
    channel_id TEXT COLLATE "C" NOT NULL,
    channel_phone_number TEXT COLLATE "C",
    channel_type TEXT COLLATE "C" NOT NULL,
    conversation_ended_reason TEXT COLLATE "C",
    customer_first_name TEXT COLLATE "C",
    customer_id TEXT COLLATE "C",
    customer_last_name TEXT COLLATE "C",
    customer_phone_number TEXT COLLATE "C",
    customer_joined_at_utc TIMESTAMPTZ(3),
    customer_joined_at TEXT COLLATE "C" CHECK (customer_joined_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    customer_ring_duration INTEGER,
    duration_in_seconds INTEGER,
    started_at_utc TIMESTAMPTZ(3) NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL CHECK (started_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    ended_at_utc TIMESTAMPTZ(3),
    ended_at TEXT COLLATE "C" CHECK (ended_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    hold_count INTEGER NOT NULL,
    hold_duration_in_seconds INTEGER NOT NULL,
    is_channel_closed INTEGER,
    is_channel_open INTEGER,
    is_consult BOOLEAN NOT NULL,
    is_outbound BOOLEAN NOT NULL,
    next_conversation_id TEXT COLLATE "C",
    opening_check_result TEXT COLLATE "C",
    transfer_initiated_by TEXT COLLATE "C",
    transfer_to_external_destination_phone_number TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_calls_started_at_utc_id ON calls (tenant_id, started_at_utc, id);
CREATE INDEX ix_calls_ended_at_utc_id ON calls (tenant_id, ended_at_utc, id);

-- CampaignRecordAdditionalPhoneNumbers (statistics)
CREATE TABLE campaign_record_additional_phone_numbers (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    campaign_record_id TEXT COLLATE "C" NOT NULL,
    phone_number TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_campaign_record_additional_phone_numbers_campaign_record_id ON campaign_record_additional_phone_numbers (tenant_id, campaign_record_id);

-- CampaignRecordCustomFields (statistics)
CREATE TABLE campaign_record_custom_fields (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    campaign_record_id TEXT COLLATE "C" NOT NULL,
    custom_field_name TEXT COLLATE "C" NOT NULL,
    custom_field_value TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_campaign_record_custom_fields_campaign_record_id ON campaign_record_custom_fields (tenant_id, campaign_record_id);

-- CampaignRecordRegistrations (statistics)
CREATE TABLE campaign_record_registrations (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    campaign_record_id TEXT COLLATE "C" NOT NULL,
    campaign_id TEXT COLLATE "C" NOT NULL,
    customer_first_name TEXT COLLATE "C",
    customer_last_name TEXT COLLATE "C",
    customer_phone TEXT COLLATE "C" NOT NULL,
    registered_at_utc TIMESTAMPTZ(3) NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_campaign_record_registrations_registered_at_utc_id ON campaign_record_registrations (tenant_id, registered_at_utc, id);
CREATE INDEX ix_campaign_record_registrations_campaign_record_id ON campaign_record_registrations (tenant_id, campaign_record_id);

-- CampaignRecords (statistics)
CREATE TABLE campaign_records (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    campaign_id TEXT COLLATE "C" NOT NULL,
    created_at_utc TIMESTAMPTZ(3) NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL CHECK (created_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    closed_at_utc TIMESTAMPTZ(3),
    closed_at TEXT COLLATE "C" CHECK (closed_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    customer_first_name TEXT COLLATE "C",
    customer_last_name TEXT COLLATE "C",
    customer_phone TEXT COLLATE "C" NOT NULL,
    new_status_duration INTEGER NOT NULL,
    queued_status_duration INTEGER NOT NULL,
    rescheduled_status_duration INTEGER NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    total_customer_ring_time_in_seconds INTEGER NOT NULL,
    total_talk_time_in_seconds INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_campaign_records_created_at_utc_id ON campaign_records (tenant_id, created_at_utc, id);
CREATE INDEX ix_campaign_records_campaign_id ON campaign_records (tenant_id, campaign_id);

-- Campaigns (lookup)
CREATE TABLE campaigns (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    campaign_type TEXT COLLATE "C" NOT NULL,
    deleted_at TIMESTAMPTZ(3),
    PRIMARY KEY (tenant_id, id)
);

-- CapturedData (statistics)
CREATE TABLE captured_data (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    timestamp_utc TIMESTAMPTZ(3) NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_captured_data_timestamp_utc_id ON captured_data (tenant_id, timestamp_utc, id);
CREATE INDEX ix_captured_data_conversation_id ON captured_data (tenant_id, conversation_id);

-- Channels (lookup)
CREATE TABLE channels (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    channel_type TEXT COLLATE "C" NOT NULL,
    business_unit_id TEXT COLLATE "C",
    deleted_at TIMESTAMPTZ(3),
    PRIMARY KEY (tenant_id, id)
);

-- Chats (statistics)
CREATE TABLE chats (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    business_unit_id TEXT COLLATE "C",
    channel_id TEXT COLLATE "C" NOT NULL,
    channel_type TEXT COLLATE "C" NOT NULL,
    conversation_ended_reason TEXT COLLATE "C",
    customer_first_name TEXT COLLATE "C",
    customer_id TEXT COLLATE "C",
    customer_last_name TEXT COLLATE "C",
    duration_in_seconds INTEGER,
    started_at_utc TIMESTAMPTZ(3) NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL CHECK (started_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    ended_at_utc TIMESTAMPTZ(3),
    ended_at TEXT COLLATE "C" CHECK (ended_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    is_channel_closed INTEGER,
    is_channel_open INTEGER,
    next_conversation_id TEXT COLLATE "C",
    opening_check_result TEXT COLLATE "C",
    average_agent_answer_speed_in_seconds DOUBLE PRECISION,
    average_bot_answer_speed_in_seconds DOUBLE PRECISION,
    average_customer_answer_speed_in_seconds DOUBLE PRECISION,
    first_customer_answer_speed_in_seconds INTEGER,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_chats_started_at_utc_id ON chats (tenant_id, started_at_utc, id);
CREATE INDEX ix_chats_ended_at_utc_id ON chats (tenant_id, ended_at_utc, id);

-- CollectedData (statistics)
CREATE TABLE collected_data (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    workitem_id TEXT COLLATE "C" NOT NULL,
    created_at_utc TIMESTAMPTZ(3) NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_collected_data_created_at_utc_id ON collected_data (tenant_id, created_at_utc, id);
CREATE INDEX ix_collected_data_workitem_id ON collected_data (tenant_id, workitem_id);

-- Conversations (statistics)
CREATE TABLE conversations (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    business_unit_id TEXT COLLATE "C",
    channel_id TEXT COLLATE "C" NOT NULL,
    channel_phone_number TEXT COLLATE "C",
    channel_type TEXT COLLATE "C" NOT NULL,
    conversation_ended_reason TEXT COLLATE "C",
    customer_first_name TEXT COLLATE "C",
    customer_id TEXT COLLATE "C",
    customer_last_name TEXT COLLATE "C",
    customer_phone_number TEXT COLLATE "C",
    customer_email_address TEXT COLLATE "C",
    customer_joined_at_utc TIMESTAMPTZ(3),
    customer_joined_at TEXT COLLATE "C" CHECK (customer_joined_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    customer_ring_duration INTEGER,
    duration_in_seconds INTEGER,
    started_at_utc TIMESTAMPTZ(3) NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL CHECK (started_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    ended_at_utc TIMESTAMPTZ(3),
    ended_at TEXT COLLATE "C" CHECK (ended_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    hold_count INTEGER,
    hold_duration_in_seconds INTEGER,
    is_channel_closed INTEGER,
    is_channel_open INTEGER,
    in_channel_closed_duration_in_seconds INTEGER,
    in_channel_open_duration_in_seconds INTEGER,
    is_consult BOOLEAN,
    is_outbound BOOLEAN,
    next_conversation_id TEXT COLLATE "C",
    opening_check_result TEXT COLLATE "C",
    transfer_initiated_by TEXT COLLATE "C",
    transfer_to_external_destination_phone_number TEXT COLLATE "C",
    average_agent_answer_speed_in_seconds DOUBLE PRECISION,
    average_bot_answer_speed_in_seconds DOUBLE PRECISION,
    average_customer_answer_speed_in_seconds DOUBLE PRECISION,
    first_customer_answer_speed_in_seconds INTEGER,
    first_reply_time_in_seconds INTEGER,
    subject TEXT COLLATE "C",
    thread_id TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_conversations_started_at_utc_id ON conversations (tenant_id, started_at_utc, id);
CREATE INDEX ix_conversations_ended_at_utc_id ON conversations (tenant_id, ended_at_utc, id);

-- Emails (statistics)
CREATE TABLE emails (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    business_unit_id TEXT COLLATE "C",
    channel_id TEXT COLLATE "C" NOT NULL,
    channel_type TEXT COLLATE "C" NOT NULL,
    conversation_ended_reason TEXT COLLATE "C",
    customer_first_name TEXT COLLATE "C",
    customer_id TEXT COLLATE "C",
    customer_last_name TEXT COLLATE "C",
    customer_email_address TEXT COLLATE "C",
    duration_in_seconds INTEGER,
    started_at_utc TIMESTAMPTZ(3) NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL CHECK (started_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    ended_at_utc TIMESTAMPTZ(3),
    ended_at TEXT COLLATE "C" CHECK (ended_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    in_channel_closed_duration_in_seconds INTEGER,
    in_channel_open_duration_in_seconds INTEGER,
    is_outbound BOOLEAN NOT NULL,
    next_conversation_id TEXT COLLATE "C",
    first_reply_time_in_seconds INTEGER,
    subject TEXT COLLATE "C",
    thread_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_emails_started_at_utc_id ON emails (tenant_id, started_at_utc, id);
CREATE INDEX ix_emails_ended_at_utc_id ON emails (tenant_id, ended_at_utc, id);

-- Queues (lookup)
CREATE TABLE queues (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    routing_mode TEXT COLLATE "C" NOT NULL,
    deleted_at TIMESTAMPTZ(3),
    PRIMARY KEY (tenant_id, id)
);

-- QueueSegments (statistics)
CREATE TABLE queue_segments (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    queue_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    queued_at_utc TIMESTAMPTZ(3) NOT NULL,
    queued_at TEXT COLLATE "C" NOT NULL CHECK (queued_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    dequeued_at_utc TIMESTAMPTZ(3),
    dequeued_at TEXT COLLATE "C" CHECK (dequeued_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    duration_in_seconds INTEGER,
    dequeued_reason TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_queue_segments_queued_at_utc_id ON queue_segments (tenant_id, queued_at_utc, id);
CREATE INDEX ix_queue_segments_conversation_id ON queue_segments (tenant_id, conversation_id);

-- RejectedEnqueueAttempts (statistics)
CREATE TABLE rejected_enqueue_attempts (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    queue_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    rejected_at_utc TIMESTAMPTZ(3) NOT NULL,
    rejected_at TEXT COLLATE "C" NOT NULL CHECK (rejected_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    reject_reason TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_rejected_enqueue_attempts_rejected_at_utc_id ON rejected_enqueue_attempts (tenant_id, rejected_at_utc, id);
CREATE INDEX ix_rejected_enqueue_attempts_conversation_id ON rejected_enqueue_attempts (tenant_id, conversation_id);

-- Users (lookup)
CREATE TABLE users (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    custom_id TEXT COLLATE "C",
    email_address TEXT COLLATE "C",
    user_type TEXT COLLATE "C" NOT NULL,
    deleted_at TIMESTAMPTZ(3),
    PRIMARY KEY (tenant_id, id)
);

-- WorkitemConversationSessions (statistics)
CREATE TABLE workitem_conversation_sessions (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    workitem_id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    ended_reason TEXT COLLATE "C",
    hold_count INTEGER NOT NULL,
    last_hold_duration INTEGER,
    total_hold_duration INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_workitem_conversation_sessions_workitem_id ON workitem_conversation_sessions (tenant_id, workitem_id);
CREATE INDEX ix_workitem_conversation_sessions_conversation_id ON workitem_conversation_sessions (tenant_id, conversation_id);

-- WorkitemEvaluationData (statistics)
CREATE TABLE workitem_evaluation_data (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    evaluation_id TEXT COLLATE "C" NOT NULL,
    workitem_id TEXT COLLATE "C" NOT NULL,
    script_id TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    created_at_utc TIMESTAMPTZ(3) NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL CHECK (created_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    name TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_workitem_evaluation_data_created_at_utc_id ON workitem_evaluation_data (tenant_id, created_at_utc, id);
CREATE INDEX ix_workitem_evaluation_data_workitem_id ON workitem_evaluation_data (tenant_id, workitem_id);
CREATE INDEX ix_workitem_evaluation_data_evaluation_id ON workitem_evaluation_data (tenant_id, evaluation_id);

-- WorkitemEvaluations (statistics)
CREATE TABLE workitem_evaluations (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    workitem_id TEXT COLLATE "C" NOT NULL,
    script_id TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    started_at_utc TIMESTAMPTZ(3) NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL CHECK (started_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    ended_at_utc TIMESTAMPTZ(3),
    ended_at TEXT COLLATE "C" CHECK (ended_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_workitem_evaluations_started_at_utc_id ON workitem_evaluations (tenant_id, started_at_utc, id);
CREATE INDEX ix_workitem_evaluations_workitem_id ON workitem_evaluations (tenant_id, workitem_id);

-- Workitems (statistics)
CREATE TABLE workitems (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    agent_id TEXT COLLATE "C" NOT NULL,
    queue_id TEXT COLLATE "C",
    business_unit_id TEXT COLLATE "C",
    primary_channel_id TEXT COLLATE "C",
    primary_conversation_id TEXT COLLATE "C",
    media_type TEXT COLLATE "C" NOT NULL,
    start_time_utc TIMESTAMPTZ(3) NOT NULL,
    start_time TEXT COLLATE "C" NOT NULL CHECK (start_time ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    end_time_utc TIMESTAMPTZ(3),
    end_time TEXT COLLATE "C" CHECK (end_time ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    duration_in_seconds INTEGER,
    preview_duration INTEGER,
    active_duration_in_seconds INTEGER,
    wrap_up_duration INTEGER,
    lookup_duration INTEGER,
    result TEXT COLLATE "C",
    completion_code TEXT COLLATE "C",
    notes TEXT COLLATE "C",
    agent_phone_number TEXT COLLATE "C",
    customer_id TEXT COLLATE "C",
    script_id TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_workitems_start_time_utc_id ON workitems (tenant_id, start_time_utc, id);
CREATE INDEX ix_workitems_end_time_utc_id ON workitems (tenant_id, end_time_utc, id);
