// Retention (graphsvc/retention.py): visit notes shredded after GRAPHSVC_RETAIN_NOTES_DAYS,
// and the removable details (ip, user_agent, detail) of format-2 audit events removed after
// GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS. Each batch runs in a transaction of its own that first
// writes the run's lock node, so that two runs (the web app's workers at start, the CLI)
// take turns and never shred the same rows twice.

// name: retention_lock
// First statement of every batch: writing the lock node takes its write lock; what the
// batch then reads is what committed before (another run's batch included).
MERGE (r:RetentionState {id: $id})
SET r.locked_at = $now
RETURN r.through_seq AS through_seq;

// name: retention_notes_batch
// At most $batch visits dated before $before that still hold notes (the visit_on index):
// the ciphertext is removed and the visit marked, so that pages say "notes removed after
// N days" rather than nothing.
MATCH (v:Visit)
WHERE v.on < $before AND v.notes IS NOT NULL
WITH v LIMIT $batch
SET v.notes = null, v.notes_shredded_at = $now, v.notes_retained_days = $days
RETURN collect(v.id) AS ids;

// name: retention_audit_first_young
// The seq of the oldest event (by time) at or after $before (the audit_event_at index):
// details are removed below it. Null when every event is older.
MATCH (e:AuditEvent)
WHERE e.at >= $before
WITH e ORDER BY e.at LIMIT 1
RETURN e.seq AS seq;

// name: retention_audit_head
MATCH (h:AuditHead {id: 'head'})
RETURN h.seq AS seq;

// name: audit_retain_details
// THE ONE STATEMENT THAT CHANGES AN AUDIT EVENT (tests/test_audit.py allows exactly this
// one): the removable values of format-2 events numbered above $after up to $upto and older
// than $before, with their salt. Their salted digests stay in the hashed content, so that
// verify still passes (graphsvc/audit.py, "Removable details"). Format-1 events have no
// salt and are never touched.
MATCH (e:AuditEvent)
WHERE $after < e.seq <= $upto AND e.salt IS NOT NULL AND e.at < $before
REMOVE e.ip, e.user_agent, e.detail, e.salt
RETURN count(e) AS removed, min(e.seq) AS first, max(e.seq) AS last;

// name: retention_audit_mark
// How far the removal has gone (the next run starts a little below it).
MATCH (r:RetentionState {id: $id})
SET r.through_seq = CASE WHEN coalesce(r.through_seq, 0) > $seq THEN r.through_seq ELSE $seq END
RETURN r.through_seq AS through_seq;

