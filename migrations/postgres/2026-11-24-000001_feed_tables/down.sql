-- Reverts 2026-11-24-000001_feed_tables: drops every feed table (indexes first), then tenants.

DROP INDEX ix_workitems_end_time_utc_id;
DROP INDEX ix_workitems_start_time_utc_id;
DROP TABLE workitems;

DROP INDEX ix_workitem_evaluations_workitem_id;
DROP INDEX ix_workitem_evaluations_started_at_utc_id;
DROP TABLE workitem_evaluations;

DROP INDEX ix_workitem_evaluation_data_evaluation_id;
DROP INDEX ix_workitem_evaluation_data_workitem_id;
DROP INDEX ix_workitem_evaluation_data_created_at_utc_id;
DROP TABLE workitem_evaluation_data;

DROP INDEX ix_workitem_conversation_sessions_conversation_id;
DROP INDEX ix_workitem_conversation_sessions_workitem_id;
DROP TABLE workitem_conversation_sessions;

DROP TABLE users;

DROP INDEX ix_rejected_enqueue_attempts_conversation_id;
DROP INDEX ix_rejected_enqueue_attempts_rejected_at_utc_id;
DROP TABLE rejected_enqueue_attempts;

DROP INDEX ix_queue_segments_conversation_id;
DROP INDEX ix_queue_segments_queued_at_utc_id;
DROP TABLE queue_segments;

DROP TABLE queues;

DROP INDEX ix_emails_ended_at_utc_id;
DROP INDEX ix_emails_started_at_utc_id;
DROP TABLE emails;

DROP INDEX ix_conversations_ended_at_utc_id;
DROP INDEX ix_conversations_started_at_utc_id;
DROP TABLE conversations;

DROP INDEX ix_collected_data_workitem_id;
DROP INDEX ix_collected_data_created_at_utc_id;
DROP TABLE collected_data;

DROP INDEX ix_chats_ended_at_utc_id;
DROP INDEX ix_chats_started_at_utc_id;
DROP TABLE chats;

DROP TABLE channels;

DROP INDEX ix_captured_data_conversation_id;
DROP INDEX ix_captured_data_timestamp_utc_id;
DROP TABLE captured_data;

DROP TABLE campaigns;

DROP INDEX ix_campaign_records_campaign_id;
DROP INDEX ix_campaign_records_created_at_utc_id;
DROP TABLE campaign_records;

DROP INDEX ix_campaign_record_registrations_campaign_record_id;
DROP INDEX ix_campaign_record_registrations_registered_at_utc_id;
DROP TABLE campaign_record_registrations;

DROP INDEX ix_campaign_record_custom_fields_campaign_record_id;
DROP TABLE campaign_record_custom_fields;

DROP INDEX ix_campaign_record_additional_phone_numbers_campaign_record_id;
DROP TABLE campaign_record_additional_phone_numbers;

DROP INDEX ix_calls_ended_at_utc_id;
DROP INDEX ix_calls_started_at_utc_id;
DROP TABLE calls;

DROP TABLE business_units;

DROP TABLE bot_steps;

DROP INDEX ix_bot_segments_conversation_id;
DROP INDEX ix_bot_segments_started_at_utc_id;
DROP TABLE bot_segments;

DROP INDEX ix_agent_states_start_time_utc_id;
DROP TABLE agent_states;

DROP INDEX ix_agent_business_unit_changes_timestamp_utc_id;
DROP TABLE agent_business_unit_changes;

DROP TABLE agents;

DROP TABLE tenants;
