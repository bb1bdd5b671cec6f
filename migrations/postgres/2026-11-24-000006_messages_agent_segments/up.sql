-- Messages and AgentSegments: who wrote each message, and each period an agent held a
-- conversation, with the metrics computed from the two.

-- AgentSegments (statistics)
CREATE TABLE agent_segments (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    agent_id TEXT COLLATE "C" NOT NULL,
    user_type TEXT COLLATE "C" NOT NULL,
    queue_id TEXT COLLATE "C",
    start_reason TEXT COLLATE "C" NOT NULL,
    assigned_at_utc TIMESTAMPTZ(3) NOT NULL,
    assigned_at TEXT COLLATE "C" NOT NULL CHECK (assigned_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    accepted_at_utc TIMESTAMPTZ(3),
    accepted_at TEXT COLLATE "C" CHECK (accepted_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    first_agent_message_at_utc TIMESTAMPTZ(3),
    first_agent_message_at TEXT COLLATE "C" CHECK (first_agent_message_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    ended_at_utc TIMESTAMPTZ(3),
    ended_at TEXT COLLATE "C" CHECK (ended_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    end_reason TEXT COLLATE "C",
    duration_in_milliseconds BIGINT,
    agent_message_count INTEGER,
    consumer_message_count INTEGER,
    time_to_first_response_in_milliseconds BIGINT,
    response_count INTEGER,
    total_response_time_in_milliseconds BIGINT,
    is_interactive BOOLEAN,
    is_abandoned_by_consumer BOOLEAN,
    has_non_responsive_consumer BOOLEAN,
    has_non_responsive_agent BOOLEAN,
    is_last_in_conversation BOOLEAN,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_agent_segments_assigned_at_utc_id ON agent_segments (tenant_id, assigned_at_utc, id);
CREATE INDEX ix_agent_segments_conversation_id ON agent_segments (tenant_id, conversation_id);
CREATE INDEX ix_agent_segments_agent_id_assigned_at_utc ON agent_segments (tenant_id, agent_id, assigned_at_utc);

-- Messages (statistics)
CREATE TABLE messages (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    media_type TEXT COLLATE "C" NOT NULL,
    sent_at_utc TIMESTAMPTZ(3) NOT NULL,
    sent_at TEXT COLLATE "C" NOT NULL CHECK (sent_at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}[-+][0-9]{2}:[0-9]{2}$'),
    sender_type TEXT COLLATE "C" NOT NULL,
    is_automated BOOLEAN NOT NULL,
    agent_id TEXT COLLATE "C",
    bot_id TEXT COLLATE "C",
    direction TEXT COLLATE "C" NOT NULL,
    agent_segment_id TEXT COLLATE "C",
    response_time_in_milliseconds BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_messages_sent_at_utc_id ON messages (tenant_id, sent_at_utc, id);
CREATE INDEX ix_messages_conversation_id_sent_at_utc ON messages (tenant_id, conversation_id, sent_at_utc);
CREATE INDEX ix_messages_agent_segment_id ON messages (tenant_id, agent_segment_id);
