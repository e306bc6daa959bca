-- Newest record of a kind, and the records of a kind after a seq, without
-- scanning every record of that kind (equity peaks, the open-order journal).
CREATE INDEX records_kind_seq ON records(kind, seq);
