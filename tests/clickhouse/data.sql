-- Two teams. Team 1 is the data the queries look at; team 2 holds marker rows
-- ("team2", ids 22222222-...) that collide with team 1 by distinct_id, group key
-- and event name so that any missing team guard shows up in team 1's results.
INSERT INTO person (id, created_at, team_id, properties, is_identified, is_deleted, version) VALUES
('00000000-0000-0000-0000-0000000000a1', '2023-12-01 10:00:00', 1, '{"email":"alice@example.com","name":"Alice","plan":"pro","age":30}', 1, 0, 1),
('00000000-0000-0000-0000-0000000000a2', '2023-12-02 10:00:00', 1, '{"email":"bob@example.com","name":"Bob","plan":"free","age":25}', 1, 0, 1),
('00000000-0000-0000-0000-0000000000a3', '2023-12-03 10:00:00', 1, '{"email":"carol@example.com","name":"Carol"}', 0, 0, 1),
('00000000-0000-0000-0000-0000000000a3', '2023-12-03 10:00:00', 1, '{"email":"carol@example.com","name":"Carol"}', 0, 1, 2),
('00000000-0000-0000-0000-0000000000a4', '2023-12-04 10:00:00', 1, '{"email":"dave@example.com","plan":"free"}', 0, 0, 1),
('00000000-0000-0000-0000-0000000000a4', '2023-12-04 10:00:00', 1, '{"email":"dave@example.com","plan":"pro","nested":{"k":"v"}}', 1, 0, 2),
('22222222-2222-2222-2222-222222222222', '2023-12-01 10:00:00', 2, '{"email":"team2@marker","name":"team2","plan":"pro"}', 1, 0, 9)

INSERT INTO person_distinct_id2 (team_id, distinct_id, person_id, is_deleted, version) VALUES
(1, 'u1', '00000000-0000-0000-0000-0000000000a1', 0, 1),
(1, 'u1b', '00000000-0000-0000-0000-0000000000a1', 0, 1),
(1, 'u2', '00000000-0000-0000-0000-0000000000a2', 0, 1),
(1, 'u3', '00000000-0000-0000-0000-0000000000a3', 0, 1),
(1, 'u4', '00000000-0000-0000-0000-0000000000a4', 0, 1),
(1, 'u5', '00000000-0000-0000-0000-0000000000a2', 0, 1),
(1, 'u5', '00000000-0000-0000-0000-0000000000a4', 0, 2),
(1, 'u6', '00000000-0000-0000-0000-0000000000a2', 0, 1),
(1, 'u6', '00000000-0000-0000-0000-0000000000a2', 1, 2),
(2, 'u1', '22222222-2222-2222-2222-222222222222', 0, 9),
(2, 'u2', '22222222-2222-2222-2222-222222222222', 0, 9)

INSERT INTO person_distinct_id_overrides (team_id, distinct_id, person_id, is_deleted, version) VALUES
(1, 'u5', '00000000-0000-0000-0000-0000000000a4', 0, 1),
(2, 'u1', '22222222-2222-2222-2222-222222222222', 0, 9),
(2, 'u2', '22222222-2222-2222-2222-222222222222', 0, 9)

INSERT INTO groups (group_type_index, group_key, created_at, team_id, group_properties, _timestamp) VALUES
(0, 'acme', '2023-11-01 00:00:00', 1, '{"name":"Acme","employees":50}', '2023-11-01 00:00:00'),
(0, 'acme', '2023-11-01 00:00:00', 1, '{"name":"Acme Inc","employees":60}', '2023-12-01 00:00:00'),
(0, 'globex', '2023-11-02 00:00:00', 1, '{"name":"Globex","employees":5}', '2023-11-02 00:00:00'),
(1, 'proj1', '2023-11-03 00:00:00', 1, '{"name":"Project One"}', '2023-11-03 00:00:00'),
(0, 'acme', '2023-11-01 00:00:00', 2, '{"name":"team2 marker group"}', '2024-06-01 00:00:00')

INSERT INTO events (uuid, event, properties, timestamp, team_id, distinct_id, elements_chain, created_at, person_id, person_properties, `$session_id`, `$window_id`, `$group_0`, `$group_1`) VALUES
('00000000-0000-0000-0001-000000000001', '$pageview', '{"$browser":"Chrome","$current_url":"https://example.com/","$os":"Mac OS X","price":10,"plan":"pro"}', '2024-01-01 09:00:00', 1, 'u1', '', '2024-01-01 09:00:01', '00000000-0000-0000-0000-0000000000a1', '{"email":"alice@example.com"}', 's1', 'w1', 'acme', 'proj1'),
('00000000-0000-0000-0001-000000000002', '$pageview', '{"$browser":"Firefox","$current_url":"https://example.com/pricing","$os":"Windows","price":20.5}', '2024-01-01 23:30:00', 1, 'u2', '', '2024-01-01 23:30:01', '00000000-0000-0000-0000-0000000000a2', '{"email":"bob@example.com"}', 's2', 'w2', 'globex', ''),
('00000000-0000-0000-0001-000000000003', 'signup', '{"$browser":"Chrome","plan":"free","nested":{"a":{"b":"deep"}},"flag":true,"arr":[1,2,3]}', '2024-01-02 10:15:00', 1, 'u1', '', '2024-01-02 10:15:01', '00000000-0000-0000-0000-0000000000a1', '{"email":"alice@example.com"}', 's3', 'w1', 'acme', ''),
('00000000-0000-0000-0001-000000000004', 'purchase', '{"$browser":"Safari","price":99.99,"plan":"pro","quote":"it''s \\"quoted\\""}', '2024-01-03 12:00:00', 1, 'u4', '', '2024-01-03 12:00:01', '00000000-0000-0000-0000-0000000000a4', '{"email":"dave@example.com"}', 's4', 'w4', '', ''),
('00000000-0000-0000-0001-000000000005', '$autocapture', '{"$browser":"Chrome","$event_type":"click","empty":"","nul":null}', '2024-01-03 12:01:00', 1, 'u4', 'a:href="/x"nth-child="1"', '2024-01-03 12:01:01', '00000000-0000-0000-0000-0000000000a4', '{}', 's4', 'w4', '', ''),
('00000000-0000-0000-0001-000000000006', '$pageview', '{"$browser":"Chrome","$current_url":"https://example.com/docs","price":5}', '2024-01-04 08:00:00', 1, 'u5', '', '2024-01-04 08:00:01', '00000000-0000-0000-0000-0000000000a2', '{"email":"bob@example.com"}', 's5', 'w5', 'acme', ''),
('00000000-0000-0000-0001-000000000007', '$pageview', '{"$browser":"Firefox","$current_url":"https://example.com/","price":7}', '2024-01-05 00:30:00', 1, 'u3', '', '2024-01-05 00:30:01', '00000000-0000-0000-0000-0000000000a3', '{}', 's6', 'w6', '', ''),
('00000000-0000-0000-0001-000000000008', 'purchase', '{"$browser":"Chrome","price":42,"plan":"pro","$current_url":"https://example.com/checkout"}', '2024-01-05 15:45:00', 1, 'u1b', '', '2024-01-05 15:45:01', '00000000-0000-0000-0000-0000000000a1', '{"email":"alice@example.com"}', 's7', 'w7', 'acme', 'proj1'),
('00000000-0000-0000-0001-000000000009', '$pageleave', '{"$browser":"Chrome"}', '2024-01-06 18:00:00', 1, 'u6', '', '2024-01-06 18:00:01', '00000000-0000-0000-0000-0000000000a2', '{}', 's8', 'w8', '', ''),
('00000000-0000-0000-0001-000000000010', '$pageview', '{"$browser":"Edge","$current_url":"https://example.com/about","utm_source":"google"}', '2024-01-07 07:07:07', 1, 'u7', '', '2024-01-07 07:07:08', '00000000-0000-0000-0000-0000000000a7', '{}', 's9', 'w9', '', ''),
('00000000-0000-0000-0001-000000000011', 'signup', '{"$browser":"Firefox","plan":"free"}', '2024-01-08 11:00:00', 1, 'u2', '', '2024-01-08 11:00:01', '00000000-0000-0000-0000-0000000000a2', '{"email":"bob@example.com"}', 's10', 'w10', 'globex', ''),
('00000000-0000-0000-0001-000000000012', '$pageview', '{"$browser":"Chrome","$current_url":"https://example.com/pricing","price":"15"}', '2024-01-09 22:00:00', 1, 'u1', '', '2024-01-09 22:00:01', '00000000-0000-0000-0000-0000000000a1', '{"email":"alice@example.com"}', 's11', 'w11', 'acme', ''),
('00000000-0000-0000-0001-000000000013', '$pageview', '{"$browser":"Safari","$current_url":"https://example.com/"}', '2024-01-10 03:00:00', 1, 'u4', '', '2024-01-10 03:00:01', '00000000-0000-0000-0000-0000000000a4', '{}', 's12', 'w12', '', ''),
('22222222-2222-2222-2222-000000000001', 'team2_marker', '{"$browser":"Chrome","marker":"team2","plan":"pro","$current_url":"https://team2.marker/"}', '2024-01-01 09:00:00', 2, 'u1', '', '2024-01-01 09:00:01', '22222222-2222-2222-2222-222222222222', '{"email":"team2@marker"}', 's1', 'w1', 'acme', ''),
('22222222-2222-2222-2222-000000000002', '$pageview', '{"$browser":"team2browser","marker":"team2"}', '2024-01-02 09:00:00', 2, 'u2', '', '2024-01-02 09:00:01', '22222222-2222-2222-2222-222222222222', '{"email":"team2@marker"}', 's2', 'w2', 'acme', '')
