-- ClickHouse 18.16 SQL for the issue-8 insight benchmark (bench/query/compare.py), over the
-- same events table as ../shared/bench/queries_ch.sql. Each computes what the snout insight
-- computes, in one statement, the way a hand-written ClickHouse query would; the answers are
-- not compared exactly (noted per query), the timings are. Team 1, last 30 days = December 2024.
-- name: S1_stickiness_30d
SELECT days, count() AS persons FROM (
  SELECT person_id, uniqExact(toDate(timestamp)) AS days FROM events
  WHERE team_id = 1 AND event = '$pageview'
    AND timestamp >= toDateTime('2024-12-02 00:00:00', 'UTC') AND timestamp < toDateTime('2025-01-01 00:00:00', 'UTC')
  GROUP BY person_id
) GROUP BY days ORDER BY days
-- name: L1_lifecycle_30d
-- new / returning / resurrecting per active day, dormant the day after an active day;
-- "new" here is the person's first pageview ever (PostHog: the person's created_at).
SELECT status, d, count() AS persons FROM (
  SELECT arrayJoin(arrayConcat(
           arrayMap((x, f, ds) -> (x = f ? 'new' : (has(ds, x - 1) ? 'returning' : 'resurrecting'), x),
                    act, replicate(first_day, act), replicate(days, act)),
           arrayMap(x -> ('dormant', x + 1),
                    arrayFilter((x, ds) -> NOT has(ds, x + 1) AND x + 1 >= toDate('2024-12-02') AND x + 1 <= toDate('2024-12-31'),
                                days, replicate(days, days)))
         )) AS sd,
         sd.1 AS status, sd.2 AS d
  FROM (
    SELECT person_id, days, first_day, arrayFilter(x -> x >= toDate('2024-12-02'), days) AS act
    FROM (
      SELECT person_id, groupUniqArrayIf(toDate(timestamp), timestamp >= toDateTime('2024-12-01 00:00:00', 'UTC')) AS days,
             toDate(min(timestamp)) AS first_day
      FROM events WHERE team_id = 1 AND event = '$pageview' AND timestamp < toDateTime('2025-01-01 00:00:00', 'UTC')
      GROUP BY person_id
    )
  )
) GROUP BY status, d ORDER BY d, status
-- name: P1_paths_5_steps
-- the first 5 pageviews of each person in the range as edges (PostHog paths also cut
-- sessions at 30 minutes of inactivity; this does not).
SELECT concat(toString(i), '_', a) AS source, concat(toString(i + 1), '_', b) AS target, count() AS value
FROM (
  SELECT arraySlice(arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((timestamp, `mat_$current_url`)))), 1, 5) AS path
  FROM events WHERE team_id = 1 AND event = '$pageview'
    AND timestamp >= toDateTime('2024-12-02 00:00:00', 'UTC') AND timestamp < toDateTime('2025-01-01 00:00:00', 'UTC')
  GROUP BY person_id
)
ARRAY JOIN arrayPopBack(path) AS a, arrayPopFront(path) AS b, arrayEnumerate(arrayPopBack(path)) AS i
GROUP BY source, target ORDER BY value DESC LIMIT 50
