// What a district-scoped import (a coordinator's, from /import) asks of the database: the
// district of each existing record a row would change or refer to (graphsvc/importer.py
// `_check_districts`). A record without a household answers a null district.

// default class: batch
// (an import asks about thousands of ids at once)

// name: scope_households
UNWIND $ids AS id
MATCH (h:Household {id: id})
RETURN h.id AS id, h.district AS district;

// name: scope_people
UNWIND $ids AS id
MATCH (p:Person {id: id})
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
RETURN p.id AS id, h.district AS district;

// name: scope_visits
UNWIND $ids AS id
MATCH (v:Visit {id: id})
OPTIONAL MATCH (v)-[:AT]->(h:Household)
RETURN v.id AS id, h.district AS district;

// --- what a dry run compares: the stored form of the records its rows name ----------------
// (the columns of the export, cypher/export.cypher, for these ids only)

// name: diff_users
UNWIND $ids AS username
MATCH (u:User {username: username})
OPTIONAL MATCH (u)-[:IS]->(p:Person)
RETURN u.username AS username, u.role AS role, u.districts AS districts, p.id AS person_id,
       u.gender AS gender;

// name: diff_households
UNWIND $ids AS id
MATCH (h:Household {id: id})
RETURN h.id AS id, h.code AS code, h.district AS district, h.arrived_on AS arrived_on,
       h.status AS status, h.women_only AS women_only;

// name: diff_people
UNWIND $ids AS id
MATCH (p:Person {id: id})
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
RETURN p.id AS id, p.code_name AS code_name, h.id AS household_id,
       p.legal_name AS legal_name, p.phone AS phone, p.address AS address;

// name: diff_introductions
// keyed by the introduced person: a person has at most one introducer
UNWIND $ids AS id
MATCH (a:Person)-[r:INTRODUCED]->(b:Person {id: id})
RETURN a.id AS introducer_id, b.id AS introduced_id, r.on AS introduced_on,
       r.relation AS relation;

// name: diff_visits
UNWIND $ids AS id
MATCH (v:Visit {id: id})
OPTIONAL MATCH (v)-[:AT]->(h:Household)
OPTIONAL MATCH (u:User)-[:MADE]->(v)
RETURN v.id AS id, h.id AS household_id, u.username AS visitor, v.on AS visited_on,
       v.outcome AS outcome, v.materials AS materials, v.notes AS notes,
       v.follow_up_on AS follow_up_on;
