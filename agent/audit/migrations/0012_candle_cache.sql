-- The candle cache (agent.StoredCandles): closed candles of public market
-- data kept between `warden run --once` processes, so a cycle fetches only
-- the candles that closed since the last one. It is a cache, not an audit
-- record: it is NOT part of the hash chain, verify ignores it, and every
-- row may be deleted at any time (the next cycle fetches the whole window
-- again). A reader checks continuity and falls back to a full fetch.
--
-- open_ms is the candle's open time, fetched_ms when it was stored (Unix
-- milliseconds): a row is used only if the candle had closed by then
-- (open_ms + the timeframe's step <= fetched_ms), so a candle stored while
-- still forming is never taken as closed. Rows older than the warm-up
-- window plus a margin are deleted in the same transaction that adds new
-- ones: the table stays bounded per (exchange, symbol, timeframe).
CREATE TABLE candle_cache (
	exchange   TEXT    NOT NULL,
	symbol     TEXT    NOT NULL,
	timeframe  TEXT    NOT NULL,
	open_ms    INTEGER NOT NULL,
	open       REAL    NOT NULL,
	high       REAL    NOT NULL,
	low        REAL    NOT NULL,
	close      REAL    NOT NULL,
	volume     REAL    NOT NULL,
	fetched_ms INTEGER NOT NULL,
	PRIMARY KEY (exchange, symbol, timeframe, open_ms)
) WITHOUT ROWID;
