// The benchmark of the chain index (bench/chains.py): single-record writes of the edits
// the write service makes. Loaded only by the benchmarks and the tests (bench/cypher_extra.py).
// No application code runs them (tests/test_chains.py checks that graphsvc/ and web/ never name a test_chains_* or
// bench_chains_* statement); the application's writes are the write service's.

// name: bench_chains_add_household
// class: light
// A new household with one member, introduced by the existing person $introducer (in
// that person's district); the introducer's household.
MATCH (i:Person {id: $introducer})-[:MEMBER_OF]->(g:Household)
CREATE (h:Household {id: $household, code: $code, district: g.district, status: 'active',
                     arrived_on: $on})
CREATE (p:Person {id: $person, code_name: $code_name})-[:MEMBER_OF]->(h)
CREATE (i)-[:INTRODUCED {on: $on, relation: 'friend'}]->(p)
RETURN g.id AS introducer_household;

// name: bench_chains_set_introducer
// class: light
// $person's introducer becomes $introducer (null: nobody), dated $on.
MATCH (p:Person {id: $person})
OPTIONAL MATCH (:Person)-[old:INTRODUCED]->(p)
DELETE old
WITH p
OPTIONAL MATCH (i:Person {id: $introducer})
FOREACH (_ IN CASE WHEN i IS NULL THEN [] ELSE [1] END |
  CREATE (i)-[:INTRODUCED {on: $on, relation: 'friend'}]->(p))
RETURN p.id AS id;

// name: bench_chains_remove_added
// class: batch
// Remove the households the benchmark added (ids starting with $prefix) and their people.
MATCH (h:Household) WHERE h.id STARTS WITH $prefix
OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
DETACH DELETE h, p;
