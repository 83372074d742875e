// Statements of bench/audit_search.py: the households and people of a large network that the
// audit's events name (never loaded by the application).

// name: bench_auditsearch_households
// BENCHMARKS ONLY: households with their codes, and their members with code names.
UNWIND $rows AS row
CREATE (h:Household {id: row.id, code: row.code, district: row.district, status: 'active'})
WITH h, row
UNWIND row.people AS person
CREATE (:Person {id: person.id, code_name: person.code_name})-[:MEMBER_OF]->(h);

// name: bench_auditsearch_count
// BENCHMARKS ONLY: how many events and households there are (to reuse a filled database).
CALL () { MATCH (e:AuditEvent) RETURN count(e) AS events }
CALL () { MATCH (h:Household) RETURN count(h) AS households }
RETURN events, households;

// name: bench_auditsearch_await
// BENCHMARKS ONLY: wait until every index is online (the full-text index of targets).
CALL db.awaitIndexes(3600);

// name: bench_auditsearch_drop_targets
// BENCHMARKS ONLY: the append's cost without the full-text index of targets (apply_schema makes it again).
DROP INDEX audit_event_targets IF EXISTS;
