-- Messages and AgentSegments: who wrote each message, and each period an agent held a
-- conversation, with the metrics computed from the two.

-- AgentSegments (statistics)
CREATE TABLE agent_segments (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    user_type TEXT NOT NULL,
    queue_id TEXT,
    start_reason TEXT NOT NULL,
    assigned_at_utc TEXT NOT NULL CHECK (assigned_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    assigned_at TEXT NOT NULL CHECK (assigned_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    accepted_at_utc TEXT CHECK (accepted_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    accepted_at TEXT CHECK (accepted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    first_agent_message_at_utc TEXT CHECK (first_agent_message_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    first_agent_message_at TEXT CHECK (first_agent_message_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    ended_at_utc TEXT CHECK (ended_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    ended_at TEXT CHECK (ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    end_reason TEXT,
    duration_in_milliseconds INTEGER,
    agent_message_count INTEGER,
    consumer_message_count INTEGER,
    time_to_first_response_in_milliseconds INTEGER,
    response_count INTEGER,
    total_response_time_in_milliseconds INTEGER,
    is_interactive INTEGER CHECK (is_interactive IN (0, 1)),
    is_abandoned_by_consumer INTEGER CHECK (is_abandoned_by_consumer IN (0, 1)),
    has_non_responsive_consumer INTEGER CHECK (has_non_responsive_consumer IN (0, 1)),
    has_non_responsive_agent INTEGER CHECK (has_non_responsive_agent IN (0, 1)),
    is_last_in_conversation INTEGER CHECK (is_last_in_conversation IN (0, 1)),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_agent_segments_assigned_at_utc_id ON agent_segments (tenant_id, assigned_at_utc, id);
CREATE INDEX ix_agent_segments_conversation_id ON agent_segments (tenant_id, conversation_id);
CREATE INDEX ix_agent_segments_agent_id_assigned_at_utc ON agent_segments (tenant_id, agent_id, assigned_at_utc);

-- Messages (statistics)
CREATE TABLE messages (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    media_type TEXT NOT NULL,
    sent_at_utc TEXT NOT NULL CHECK (sent_at_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    sent_at TEXT NOT NULL CHECK (sent_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][-+][0-9][0-9]:[0-9][0-9]'),
    sender_type TEXT NOT NULL,
    is_automated INTEGER NOT NULL CHECK (is_automated IN (0, 1)),
    agent_id TEXT,
    bot_id TEXT,
    direction TEXT NOT NULL,
    agent_segment_id TEXT,
    response_time_in_milliseconds INTEGER,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_messages_sent_at_utc_id ON messages (tenant_id, sent_at_utc, id);
CREATE INDEX ix_messages_conversation_id_sent_at_utc ON messages (tenant_id, conversation_id, sent_at_utc);
CREATE INDEX ix_messages_agent_segment_id ON messages (tenant_id, agent_segment_id);
