// Statements for the tests and benchmarks only: emptying the database, comparing whole
// states, looking at one record. No application code path runs them (a test checks this),
// and they are the only statements allowed to delete audit events.

// name: wipe_all
// Delete every node and relationship, in batches (tests and benchmarks only; needs an
// auto-commit transaction).
MATCH (n)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS;

// name: snapshot
// The whole graph as sorted lists of labels, properties and (start, type, end, properties),
// so that two states can be compared for equality (tests: "nothing changed").
CALL () {
  MATCH (n)
  WITH n ORDER BY labels(n)[0], coalesce(n.id, n.username)
  RETURN collect([labels(n), properties(n)]) AS nodes
}
CALL () {
  MATCH (a)-[r]->(b)
  WITH a, r, b ORDER BY coalesce(a.id, a.username), type(r), coalesce(b.id, b.username)
  RETURN collect([coalesce(a.id, a.username), type(r), coalesce(b.id, b.username), properties(r)]) AS rels
}
RETURN nodes, rels;

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
