// Read-only look-ups of one record with its relationships, by stable id (tests and
// maintenance; never behind a route without an access check).

// name: test_person
MATCH (p:Person {id: $id})
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
OPTIONAL MATCH (a:Person)-[r:INTRODUCED]->(p)
RETURN p.code_name AS code_name, h.id AS household, a.id AS introducer,
       r.relation AS relation, r.on AS introduced_on;

// name: test_visit
MATCH (v:Visit {id: $id})
OPTIONAL MATCH (v)-[:AT]->(h:Household)
OPTIONAL MATCH (u:User)-[:MADE]->(v)
RETURN h.id AS household, u.username AS visitor, v.on AS on, v.outcome AS outcome,
       v.materials AS materials, v.notes AS notes;

// name: test_user
MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:IS]->(p:Person)
RETURN u.role AS role, u.districts AS districts, p.id AS person;

// name: test_schema_objects
SHOW CONSTRAINTS YIELD name, type
RETURN name, type;

// name: test_drop_constraint_household_code
DROP CONSTRAINT household_code IF EXISTS;
