-- A key may expire: after this instant it is refused like a revoked one.
ALTER TABLE api_keys ADD COLUMN expires_at_utc TEXT;
