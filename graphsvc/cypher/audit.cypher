// The audit log (graphsvc/audit.py): an append-only, hash-chained list of
// (:AuditEvent {seq, at, actor, role, action, targets, outcome, ip, user_agent, reason,
// detail, prev, hash}) and one (:AuditHead {id: 'head', seq, hash, journal, journal_mac}) that
// holds the newest event's seq and hash, and the id and mac of the last audit journal line
// the chain took (graphsvc/journal.py).
//
// RULE: no statement in this file (or any other file but tests/cypher/testing.cypher) sets, removes or
// deletes anything on an AuditEvent node; events are only ever CREATEd. The head is the only
// node that is updated (tests/test_audit.py scans every .cypher file for this). The one
// exception is retention's removal of a format-2 event's removable values and salt
// (retention.cypher: audit_retain_details), which verify accepts (audit.py docstring).

// name: audit_lock_head
// First statement of every append: writing the head takes its write lock, so concurrent
// appends queue here until the holder commits; the seq and hash read after the lock are
// those of the newest committed event (0 and 64 zeros for an empty log).
MERGE (h:AuditHead {id: 'head'})
  ON CREATE SET h.seq = 0, h.hash = $zeros
SET h.locked_at = $now
RETURN h.seq AS seq, h.hash AS hash, h.journal AS journal, h.journal_mac AS journal_mac;

// name: audit_append_event
// Second statement of an append: the new event (all its properties in $event, null
// fields left out) and the head moved to it, in the caller's transaction.
MATCH (h:AuditHead {id: 'head'})
CREATE (e:AuditEvent $event)
SET h.seq = $event.seq, h.hash = $event.hash
RETURN e.seq AS seq;

// name: audit_append_after
// record()'s one-statement append: only when the head still holds the seq and hash this
// process last saw commit (else it creates nothing and the normal append runs). The head
// is written (locked) BEFORE its seq and hash are compared: a concurrent append with the
// same idea waits for the lock and then reads the committed head, so it falls back to the
// normal append instead of colliding on the seq constraint (a collision is still caught
// and retried, but the driver may report it as ResultFailedError during the rollback).
MATCH (h:AuditHead {id: 'head'})
SET h.locked_at = $event.at
WITH h
WHERE h.seq = $seq AND h.hash = $hash
SET h.seq = $event.seq, h.hash = $event.hash
CREATE (e:AuditEvent $event)
RETURN e.seq AS seq;

// name: audit_append_batch
// The shipper's append (graphsvc/journal.py): the journal's events, sealed in order after
// the head that audit_lock_head locked in this transaction, and the head moved to the last
// of them, with the id of the last journal line taken (so that a line is never taken twice)
// and the mac that the next journal line must chain to (so that a line deleted or edited in
// the journal before it shipped is noticed).
MATCH (h:AuditHead {id: 'head'})
UNWIND $events AS row
CREATE (:AuditEvent {seq: row.seq, at: row.at, actor: row.actor, role: row.role,
                     action: row.action, targets: row.targets, outcome: row.outcome,
                     ip: row.ip, user_agent: row.user_agent, reason: row.reason,
                     detail: row.detail, format: row.format, salt: row.salt,
                     ip_digest: row.ip_digest, user_agent_digest: row.user_agent_digest,
                     detail_digest: row.detail_digest, prev: row.prev, hash: row.hash})
WITH h, count(*) AS created
SET h.seq = $seq, h.hash = $hash, h.journal = $journal, h.journal_mac = $journal_mac
RETURN created;

// name: audit_head
MATCH (h:AuditHead {id: 'head'})
RETURN h.seq AS seq, h.hash AS hash;

// name: audit_event_hash
// The hash of the event numbered $seq (the admin page: does the chain still pass through
// the last checkpoint?). At most one row: seq is unique.
MATCH (e:AuditEvent {seq: $seq})
RETURN e.hash AS hash;

// name: audit_verify_page
// One page of events for verify: at most $page events numbered above $after and below
// $before, oldest first (a range seek on the seq constraint's index, in index order), in
// one record (far cheaper for the driver than a record per event). Each event is a plain
// list: the content fields in audit.FIELDS order, the hash, and how many properties the
// node has (so that a property added by hand is noticed). Reading properties(e) once and
// picking from the map costs the server less than thirteen property reads.
MATCH (e:AuditEvent)
WHERE $after < e.seq < $before
WITH e ORDER BY e.seq LIMIT $page
WITH properties(e) AS p
RETURN collect([p.seq, p.at, p.actor, p.role, p.action, p.targets, p.outcome, p.ip, p.user_agent,
                p.reason, p.detail, p.prev, p.hash, size(keys(p)),
                p.format, p.salt, p.ip_digest, p.user_agent_digest, p.detail_digest]) AS events;

// name: audit_verify_counts
// After the stream: all AuditEvent nodes and those numbered above the last one streamed
// (appended meanwhile). The difference to the streamed count are nodes outside the
// sequence (no seq, or one that is not a number > 0).
CALL () { MATCH (e:AuditEvent) RETURN count(e) AS total }
CALL () { MATCH (e:AuditEvent) WHERE e.seq > $last RETURN count(e) AS later }
RETURN total, later;

// name: audit_query
// Events newest first, walking the seq index downwards from $before_seq; every filter is
// optional (null = any). $action_prefix matches actions that start with it.
MATCH (e:AuditEvent)
WHERE e.seq < $before_seq
  AND ($actor IS NULL OR e.actor = $actor)
  AND ($target IS NULL OR $target IN e.targets)
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.seq DESC LIMIT $limit
RETURN properties(e) AS event;

// name: audit_query_actor
// The same for one actor, through the actor index (a few events among many).
MATCH (e:AuditEvent {actor: $actor})
WHERE e.seq < $before_seq
  AND ($target IS NULL OR $target IN e.targets)
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.seq DESC LIMIT $limit
RETURN properties(e) AS event;

// name: audit_export
// Events oldest first for CSV / JSON-lines export (streamed), same optional filters.
MATCH (e:AuditEvent)
WHERE e.seq > 0
  AND ($actor IS NULL OR e.actor = $actor)
  AND ($target IS NULL OR $target IN e.targets)
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.seq
RETURN properties(e) AS event;
