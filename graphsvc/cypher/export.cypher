// `graphsvc export`: each statement yields the rows of one CSV file, in a stable order so
// that two exports of the same graph are byte-identical.

// default class: batch
// (exports stream the whole graph)

// name: export_users
MATCH (u:User)
OPTIONAL MATCH (u)-[:IS]->(p:Person)
RETURN u.username AS username, u.role AS role, u.districts AS districts, p.id AS person_id,
       u.gender AS gender
ORDER BY username;

// name: export_households
MATCH (h:Household)
RETURN h.id AS id, h.code AS code, h.district AS district, h.arrived_on AS arrived_on,
       h.status AS status, h.women_only AS women_only
ORDER BY id;

// name: export_people
MATCH (p:Person)
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
RETURN p.id AS id, p.code_name AS code_name, h.id AS household_id,
       p.legal_name AS legal_name, p.phone AS phone, p.address AS address
ORDER BY id;

// name: export_introductions
MATCH (a:Person)-[r:INTRODUCED]->(b:Person)
RETURN a.id AS introducer_id, b.id AS introduced_id, r.on AS introduced_on,
       r.relation AS relation
ORDER BY introduced_id, introducer_id;

// name: export_visits
MATCH (v:Visit)
OPTIONAL MATCH (v)-[:AT]->(h:Household)
OPTIONAL MATCH (u:User)-[:MADE]->(v)
RETURN v.id AS id, h.id AS household_id, u.username AS visitor, v.on AS visited_on,
       v.outcome AS outcome, v.materials AS materials, v.notes AS notes,
       v.follow_up_on AS follow_up_on
ORDER BY id;
