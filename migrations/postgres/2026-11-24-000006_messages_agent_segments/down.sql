DROP TABLE messages;
DROP TABLE agent_segments;
