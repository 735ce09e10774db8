-- One column of the big team, read whole (bench/ingest/compare.sh and the
-- query set: bench/query/compare.py holds the HogQL forms). team_id is the
-- sort key's first column in both engines, so each reads team 1's granules of
-- one column.
-- name: C1_scan_timestamp
SELECT sum(toUInt32(timestamp)) FROM events WHERE team_id = 1
-- name: C2_scan_distinct_id
SELECT sum(length(distinct_id)) FROM events WHERE team_id = 1
