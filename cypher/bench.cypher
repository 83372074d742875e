// BENCHMARK BASELINES ONLY: bench/import.py runs these to compare `graphsvc import` with
// Neo4j's own LOAD CSV. Nothing in graphsvc or the web app uses them; do not call them from
// application code (they read files from the server's import directory and skip all of the
// importer's validation).
//
// Each bench_load_* statement has the same semantics as its import_* twin in import.cypher
// (same MERGE keys, same properties, same re-homing subqueries), reading the demo CSV files
// instead of $rows: empty fields become null, dates go through date(), users' districts are
// split on ';'. The demo files already hold canonical relation/outcome/status values and
// canonical materials, which the importer's validation would otherwise normalise.
// They need an auto-commit transaction (CALL … IN TRANSACTIONS): Database.run_autocommit.

// name: bench_load_users
LOAD CSV WITH HEADERS FROM 'file:///users.csv' AS row
CALL (row) {
  MERGE (u:User {username: row.username})
  SET u.role = row.role,
      u.districts = [d IN split(coalesce(row.districts, ''), ';') WHERE trim(d) <> '' | trim(d)]
} IN TRANSACTIONS OF 5000 ROWS;

// name: bench_load_households
LOAD CSV WITH HEADERS FROM 'file:///households.csv' AS row
CALL (row) {
  MERGE (h:Household {id: row.id})
  SET h.code = nullif(row.code, ''), h.district = nullif(row.district, ''),
      h.arrived_on = date(nullif(row.arrived_on, '')), h.status = nullif(row.status, '')
} IN TRANSACTIONS OF 5000 ROWS;

// name: bench_load_people
LOAD CSV WITH HEADERS FROM 'file:///people.csv' AS row
CALL (row) {
  MATCH (h:Household {id: row.household_id})
  MERGE (p:Person {id: row.id})
  SET p.code_name = nullif(row.code_name, ''), p.legal_name = nullif(row.legal_name, ''),
      p.phone = nullif(row.phone, ''), p.address = nullif(row.address, '')
  WITH p, h
  CALL (p, h) {
    MATCH (p)-[old:MEMBER_OF]->(other:Household) WHERE other <> h
    DELETE old
  }
  MERGE (p)-[:MEMBER_OF]->(h)
} IN TRANSACTIONS OF 5000 ROWS;

// name: bench_load_user_people
LOAD CSV WITH HEADERS FROM 'file:///users.csv' AS row
CALL (row) {
  WITH row, nullif(row.person_id, '') AS person_id
  MATCH (u:User {username: row.username})
  CALL (u, person_id) {
    MATCH (u)-[old:IS]->(other:Person) WHERE other.id <> coalesce(person_id, '')
    DELETE old
  }
  WITH u, person_id WHERE person_id IS NOT NULL
  MATCH (p:Person {id: person_id})
  MERGE (u)-[:IS]->(p)
} IN TRANSACTIONS OF 5000 ROWS;

// name: bench_load_introductions
LOAD CSV WITH HEADERS FROM 'file:///introductions.csv' AS row
CALL (row) {
  MATCH (a:Person {id: row.introducer_id})
  MATCH (b:Person {id: row.introduced_id})
  MERGE (a)-[r:INTRODUCED]->(b)
  SET r.on = date(nullif(row.introduced_on, '')), r.relation = nullif(row.relation, '')
} IN TRANSACTIONS OF 5000 ROWS;

// name: bench_load_visits
LOAD CSV WITH HEADERS FROM 'file:///visits.csv' AS row
CALL (row) {
  MATCH (h:Household {id: row.household_id})
  MATCH (u:User {username: row.visitor})
  MERGE (v:Visit {id: row.id})
  SET v.on = date(nullif(row.visited_on, '')), v.outcome = nullif(row.outcome, ''),
      v.materials = nullif(row.materials, ''), v.notes = nullif(row.notes, '')
  WITH v, h, u
  CALL (v, h, u) {
    MATCH (v)-[old:AT]->(other:Household) WHERE other <> h
    DELETE old
  }
  CALL (v, h, u) {
    MATCH (by:User)-[old:MADE]->(v) WHERE by <> u
    DELETE old
  }
  MERGE (v)-[:AT]->(h)
  MERGE (u)-[:MADE]->(v)
} IN TRANSACTIONS OF 5000 ROWS;

// --- helpers of the benchmark ------------------------------------------------------------

// name: bench_csv_header
// The column names LOAD CSV sees in the first row of a file (checks the UTF-8 BOM handling).
LOAD CSV WITH HEADERS FROM 'file:///' + $file AS row
RETURN keys(row) AS columns, row AS first
LIMIT 1;

// name: bench_rel_counts
// Relationship counts that graph_counts does not give (a write that silently skipped its
// MATCH would show here).
CALL () { MATCH (:Person)-[r:MEMBER_OF]->(:Household) RETURN count(r) AS member_of }
CALL () { MATCH (:User)-[r:IS]->(:Person) RETURN count(r) AS is_person }
CALL () { MATCH (:Visit)-[r:AT]->(:Household) RETURN count(r) AS at }
CALL () { MATCH (:User)-[r:MADE]->(:Visit) RETURN count(r) AS made }
RETURN member_of, is_person, at, made;
