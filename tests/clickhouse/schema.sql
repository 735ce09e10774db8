-- PostHog-shaped physical schema for ClickHouse 18.16 (what the HogQL printer
-- of src/hogql/clickhouse.c reads). One statement per blank-line-separated block.
-- Differences from PostHog: DateTime('UTC') instead of DateTime64(6, 'UTC'), no
-- codecs, no skipping indexes, no Nullable/LowCardinality tricks; events carries
-- the hidden elements_chain_* columns as plain DEFAULT columns (so `l.*` in the
-- printer's lazy-join levels includes them).
CREATE TABLE events
(
    uuid UUID,
    event String,
    properties String,
    timestamp DateTime('UTC'),
    team_id Int64,
    distinct_id String,
    elements_chain String,
    elements_chain_href String DEFAULT '',
    elements_chain_texts Array(String) DEFAULT CAST([] AS Array(String)),
    elements_chain_ids Array(String) DEFAULT CAST([] AS Array(String)),
    elements_chain_elements Array(String) DEFAULT CAST([] AS Array(String)),
    created_at DateTime('UTC'),
    person_id UUID,
    person_properties String DEFAULT '',
    person_created_at DateTime('UTC') DEFAULT toDateTime(0, 'UTC'),
    person_mode String DEFAULT 'full',
    `$session_id` String DEFAULT '',
    `$session_id_uuid` UUID DEFAULT toUUID('00000000-0000-0000-0000-000000000000'),
    `$window_id` String DEFAULT '',
    `$group_0` String DEFAULT '',
    `$group_1` String DEFAULT '',
    `$group_2` String DEFAULT '',
    `$group_3` String DEFAULT '',
    `$group_4` String DEFAULT '',
    group0_properties String DEFAULT '',
    group1_properties String DEFAULT '',
    group2_properties String DEFAULT '',
    group3_properties String DEFAULT '',
    group4_properties String DEFAULT '',
    group0_created_at DateTime('UTC') DEFAULT toDateTime(0, 'UTC'),
    group1_created_at DateTime('UTC') DEFAULT toDateTime(0, 'UTC'),
    group2_created_at DateTime('UTC') DEFAULT toDateTime(0, 'UTC'),
    group3_created_at DateTime('UTC') DEFAULT toDateTime(0, 'UTC'),
    group4_created_at DateTime('UTC') DEFAULT toDateTime(0, 'UTC'),
    inserted_at DateTime('UTC') DEFAULT now(),
    _timestamp DateTime DEFAULT now(),
    _offset UInt64 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_timestamp)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (team_id, toDate(timestamp), event, cityHash64(distinct_id), cityHash64(toString(uuid)))
SAMPLE BY cityHash64(distinct_id)
SETTINGS index_granularity = 8192

CREATE TABLE person
(
    id UUID,
    created_at DateTime('UTC'),
    team_id Int64,
    properties String,
    is_identified Int8,
    is_deleted Int8 DEFAULT 0,
    version UInt64,
    _timestamp DateTime DEFAULT now(),
    _offset UInt64 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (team_id, id)

CREATE TABLE person_distinct_id2
(
    team_id Int64,
    distinct_id String,
    person_id UUID,
    is_deleted Int8 DEFAULT 0,
    version Int64 DEFAULT 1,
    _timestamp DateTime DEFAULT now(),
    _offset UInt64 DEFAULT 0,
    _partition UInt64 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (team_id, distinct_id)

CREATE TABLE person_distinct_id_overrides
(
    team_id Int64,
    distinct_id String,
    person_id UUID,
    is_deleted Int8 DEFAULT 0,
    version Int64 DEFAULT 1,
    _timestamp DateTime DEFAULT now(),
    _offset UInt64 DEFAULT 0,
    _partition UInt64 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (team_id, distinct_id)

CREATE TABLE groups
(
    group_type_index UInt8,
    group_key String,
    created_at DateTime('UTC'),
    team_id Int64,
    group_properties String,
    _timestamp DateTime,
    _offset UInt64 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_timestamp)
ORDER BY (team_id, group_type_index, group_key)

CREATE TABLE cohortpeople
(
    person_id UUID,
    cohort_id Int64,
    team_id Int64,
    sign Int8,
    version UInt64
)
ENGINE = CollapsingMergeTree(sign)
ORDER BY (team_id, cohort_id, person_id, version)

CREATE TABLE person_static_cohort
(
    id UUID,
    person_id UUID,
    cohort_id Int64,
    team_id Int64,
    _timestamp DateTime DEFAULT now(),
    _offset UInt64 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_timestamp)
ORDER BY (team_id, cohort_id, person_id, id)
