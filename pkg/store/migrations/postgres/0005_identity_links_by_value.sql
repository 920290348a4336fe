-- SQLite keys its identity links by the identifier's value first (see its 0005): its segment
-- queries look a link up per event. PostgreSQL joins events to links by hash, and keeps its key.
COMMENT ON TABLE identity_links IS 'The profile each identifier, as events carry it, belongs to, per resolution.';
