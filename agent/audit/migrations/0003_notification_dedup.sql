-- A notification without a dedup key is never deduplicated: the unique
-- index covers non-empty keys only.
DROP INDEX records_notification_once;
CREATE UNIQUE INDEX records_notification_once ON records(ref, dedup) WHERE kind = 'notification' AND dedup <> '';
