// Statements of the benchmarks (bench/audit.py, bench/audit_cost.py, bench/abuse.py) and
// test fixtures (tests/test_audit.py) about the audit log: never loaded by the application
// (graphsvc/cypher holds its statements; these come in through Settings.cypher_extra).

// name: bench_audit_insert
// BENCHMARKS AND TEST FIXTURES ONLY (bench/audit.py, tests/test_audit.py): insert events
// whose chain was computed in Python (audit.chain_events), one map of properties per row.
// Application code appends through audit_lock_head + audit_append_event only.
UNWIND $rows AS row
CREATE (:AuditEvent {seq: row.seq, at: row.at, actor: row.actor, role: row.role,
                     action: row.action, targets: row.targets, outcome: row.outcome,
                     ip: row.ip, user_agent: row.user_agent, reason: row.reason,
                     detail: row.detail, format: row.format, salt: row.salt,
                     ip_digest: row.ip_digest, user_agent_digest: row.user_agent_digest,
                     detail_digest: row.detail_digest, prev: row.prev, hash: row.hash});

// name: bench_audit_set_head
// BENCHMARKS AND TEST FIXTURES ONLY: point the head at the newest inserted event.
MERGE (h:AuditHead {id: 'head'})
SET h.seq = $seq, h.hash = $hash;

// name: bench_audit_count
// Benchmarks only: how many events there are (to check that every audited request wrote one).
MATCH (e:AuditEvent)
RETURN count(e) AS n;
