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

// default class: batch
// (benchmarks only)

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
    MATCH (p)-[old:MEMBER_OF]->(other) WHERE other <> h
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
    // unlabeled far node, as in cypher/import.cypher: with `other:Person` a planner whose
    // Person(id) statistics are stale scans that index per user (115 s in one run)
    MATCH (u)-[old:IS]->(other) WHERE other.id <> coalesce(person_id, '')
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
    MATCH (v)-[old:AT]->(other) WHERE other <> h
    DELETE old
  }
  CALL (v, h, u) {
    MATCH (by)-[old:MADE]->(v) WHERE by <> u
    DELETE old
  }
  MERGE (v)-[:AT]->(h)
  MERGE (u)-[:MADE]->(v)
} IN TRANSACTIONS OF 5000 ROWS;

// --- import_user_people: a plan-stable candidate and the plan it avoids ---------------------
// import_user_people's `MATCH (u)-[old:IS]->(other:Person) WHERE other.id <> …` lets the
// planner start from the Person(id) index. When that index's statistics are stale and say it
// is empty (right after a first import of people into a new or wiped database, until the
// background sampler catches up), it does: a scan of every person for every user row.
// bench_alt_user_people has the same semantics ('Person' IN labels(other) is other:Person)
// but no label or property predicate that an index could solve, so it can only expand from u.

// name: bench_alt_user_people
UNWIND $rows AS row
MATCH (u:User {username: row.username})
CALL (u, row) {
  MATCH (u)-[old:IS]->(other)
  WHERE 'Person' IN labels(other) AND other.id <> coalesce(row.person_id, '')
  DELETE old
}
WITH u, row WHERE row.person_id IS NOT NULL
MATCH (p:Person {id: row.person_id})
MERGE (u)-[:IS]->(p);

// name: bench_user_people_index_scan
// import_user_people forced onto the plan that stale statistics make the planner choose
// (the hint needs `other.id IS NOT NULL`, which `<>` implies anyway).
UNWIND $rows AS row
MATCH (u:User {username: row.username})
CALL (u, row) {
  MATCH (u)-[old:IS]->(other:Person) USING INDEX other:Person(id)
  WHERE other.id IS NOT NULL AND other.id <> coalesce(row.person_id, '')
  DELETE old
}
WITH u, row WHERE row.person_id IS NOT NULL
MATCH (p:Person {id: row.person_id})
MERGE (u)-[:IS]->(p);

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

// name: bench_unlink_users
// Remove every User-[:IS]->Person link (the plan check links them again).
MATCH (:User)-[r:IS]->(:Person)
DELETE r;

// name: bench_clear_query_caches
// Forget cached plans, so that each method plans its statements against the database as it is.
CALL db.clearQueryCaches();

// name: bench_person_index_stats
// What the planner believes about the Person(id) index: its last sample, and updates since.
CALL db.stats.retrieve('GRAPH COUNTS') YIELD data
RETURN [i IN data.indexes WHERE i.labels = ['Person'] AND i.properties = ['id'] | i.totalSize][0] AS sampled_size,
       [i IN data.indexes WHERE i.labels = ['Person'] AND i.properties = ['id'] | i.updatesSinceEstimation][0] AS updates_since;

// name: bench_server_memory
// Benchmarks only: the server's heap and page cache, for the report.
SHOW SETTINGS YIELD name, value
WHERE name IN ['server.memory.heap.max_size', 'server.memory.pagecache.size']
RETURN name, value;
