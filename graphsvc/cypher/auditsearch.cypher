// Audit search (graphsvc/auditsearch.py): codes and code names resolved to ids, pages of events
// found through the index that fits the filters (keyset paging on seq, never SKIP), "who saw"
// and "what did user Y see". Read-only: events are never changed (see audit.cypher's RULE).
//
// Every page statement takes the same parameters: $after_seq < seq < $before_seq, $limit,
// and the optional filters (null = any) $actor, $action, $action_prefix, $outcome, $since,
// $until; the target statements take $lucene, a full-text query of exact target ids
// ("h-000363" OR "p-…") on the index audit_event_targets (schema.cypher), and, since that
// index is updated just after a commit, add the events above seq $tail that name one of
// $ids (a seek on the seq index: the newest few hundred events, which the index may not
// have yet). *_desc pages are
// the newest events first (older pages), *_asc the oldest first (newer pages; the caller
// turns them round).

// name: auditsearch_household
// A household by id or by code ("H-363", "h-363" typed in lower case too): at most one (both unique).
CALL () {
  MATCH (h:Household {id: $text}) RETURN h
  UNION
  MATCH (h:Household {code: $code}) RETURN h
}
RETURN DISTINCT h.id AS id, h.code AS code, h.district AS district;

// name: auditsearch_person
// People by id or by code name (a code name may be shared: every one of them), with their household.
CALL () {
  MATCH (p:Person {id: $text}) RETURN p
  UNION
  MATCH (p:Person {code_name: $text}) RETURN p
}
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
RETURN DISTINCT p.id AS id, p.code_name AS code_name, h.id AS household_id, h.code AS household_code
ORDER BY household_code, id
LIMIT 200;

// name: auditsearch_members
// The people of a household (who saw the household: also who saw one of its members).
MATCH (p:Person)-[:MEMBER_OF]->(:Household {id: $id})
RETURN p.id AS id, p.code_name AS code_name
ORDER BY id;

// name: auditsearch_labels
// What an admin reads for ids: a household's code, a person's code name (null: neither, or gone).
UNWIND $ids AS id
OPTIONAL MATCH (h:Household {id: id})
OPTIONAL MATCH (p:Person {id: id})
RETURN id, coalesce(h.code, p.code_name) AS label, CASE WHEN h IS NOT NULL THEN 'household'
       WHEN p IS NOT NULL THEN 'person' END AS kind;

// name: auditsearch_event
// One event by its seq (the page that lists all its records).
MATCH (e:AuditEvent {seq: $seq})
RETURN properties(e) AS event;

// name: auditsearch_target_exists
// Whether any event names one of these ids (a record erased or deleted is still in the log).
CALL () {
  CALL db.index.fulltext.queryNodes('audit_event_targets', $lucene, {limit: 1}) YIELD node
  RETURN node AS e
  UNION
  MATCH (e:AuditEvent) WHERE e.seq > $tail AND any(t IN e.targets WHERE t IN $ids)
  RETURN e
}
RETURN count(e) AS n;

// name: auditsearch_target_desc
CALL () {
  CALL db.index.fulltext.queryNodes('audit_event_targets', $lucene) YIELD node
  RETURN node AS e
  UNION
  MATCH (e:AuditEvent) WHERE e.seq > $tail AND any(t IN e.targets WHERE t IN $ids)
  RETURN e
}
WITH e
WHERE $after_seq < e.seq < $before_seq
  AND ($actor IS NULL OR e.actor = $actor)
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.seq DESC LIMIT $limit
RETURN properties(e) AS event;

// name: auditsearch_target_asc
CALL () {
  CALL db.index.fulltext.queryNodes('audit_event_targets', $lucene) YIELD node
  RETURN node AS e
  UNION
  MATCH (e:AuditEvent) WHERE e.seq > $tail AND any(t IN e.targets WHERE t IN $ids)
  RETURN e
}
WITH e
WHERE $after_seq < e.seq < $before_seq
  AND ($actor IS NULL OR e.actor = $actor)
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.seq ASC LIMIT $limit
RETURN properties(e) AS event;

// name: auditsearch_actor_desc
// One account's events: a seek on the (actor, seq) index, read in index order.
MATCH (e:AuditEvent)
USING INDEX e:AuditEvent(actor, seq)
WHERE e.actor = $actor AND $after_seq < e.seq < $before_seq
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.actor DESC, e.seq DESC LIMIT $limit
RETURN properties(e) AS event;

// name: auditsearch_actor_asc
MATCH (e:AuditEvent)
USING INDEX e:AuditEvent(actor, seq)
WHERE e.actor = $actor AND $after_seq < e.seq < $before_seq
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.actor ASC, e.seq ASC LIMIT $limit
RETURN properties(e) AS event;

// name: auditsearch_action_desc
// One action (exact): a seek on the (action, seq) index, read in index order.
MATCH (e:AuditEvent)
USING INDEX e:AuditEvent(action, seq)
WHERE e.action = $action AND $after_seq < e.seq < $before_seq
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.action DESC, e.seq DESC LIMIT $limit
RETURN properties(e) AS event;

// name: auditsearch_action_asc
MATCH (e:AuditEvent)
USING INDEX e:AuditEvent(action, seq)
WHERE e.action = $action AND $after_seq < e.seq < $before_seq
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.action ASC, e.seq ASC LIMIT $limit
RETURN properties(e) AS event;

// name: auditsearch_seq_range
// The seq range of a time range: the events of [$since, $until) found through the at index.
// Times follow seqs but for a journal's late lines (graphsvc/journal.py): the caller widens
// the range and still filters on at exactly.
CALL () {
  MATCH (e:AuditEvent) WHERE e.at >= $since
  WITH e ORDER BY e.at ASC LIMIT 1000
  RETURN min(e.seq) AS low
}
CALL () {
  MATCH (e:AuditEvent) WHERE e.at < $until
  WITH e ORDER BY e.at DESC LIMIT 1000
  RETURN max(e.seq) AS high
}
RETURN low, high;

// name: auditsearch_seq_desc
// Any other filters: the seq index walked downwards from $before_seq (the newest first).
MATCH (e:AuditEvent)
WHERE $after_seq < e.seq < $before_seq
  AND ($actor IS NULL OR e.actor = $actor)
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.seq DESC LIMIT $limit
RETURN properties(e) AS event;

// name: auditsearch_seq_asc
MATCH (e:AuditEvent)
WHERE $after_seq < e.seq < $before_seq
  AND ($actor IS NULL OR e.actor = $actor)
  AND ($action IS NULL OR e.action = $action)
  AND ($action_prefix IS NULL OR e.action STARTS WITH $action_prefix)
  AND ($outcome IS NULL OR e.outcome = $outcome)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
WITH e ORDER BY e.seq ASC LIMIT $limit
RETURN properties(e) AS event;

// name: auditsearch_who_saw
// Per account and action: the events (outcome ok: what was shown) that name one of the ids
// ($lucene), how many, first and last, the stated reasons, and whether through the API (a
// token's use is noted in the detail: web/guard.py audit_request). Python folds the actions
// of an account into its one row.
CALL () {
  CALL db.index.fulltext.queryNodes('audit_event_targets', $lucene) YIELD node
  RETURN node AS e
  UNION
  MATCH (e:AuditEvent) WHERE e.seq > $tail AND any(t IN e.targets WHERE t IN $ids)
  RETURN e
}
WITH e
WHERE e.outcome = 'ok'
WITH e.actor AS actor, e.action AS action, coalesce(e.detail, '') CONTAINS 'token ' AS api,
     count(*) AS count, min(e.at) AS first, max(e.at) AS last, min(e.seq) AS first_seq, max(e.seq) AS last_seq,
     collect(DISTINCT e.reason) AS reasons, max(e.role) AS role
RETURN actor, action, api, count, first, last, first_seq, last_seq, reasons, role;

// name: auditsearch_user_days
// What one account did in [$since, $until): per day (UTC), its events and their outcome ok
// reads, and how many distinct records they showed. The user_* statements seek the (actor,
// seq) index within the seq range of that time (auditsearch_seq_range, widened) and filter
// on at exactly.
MATCH (e:AuditEvent)
USING INDEX e:AuditEvent(actor, seq)
WHERE e.actor = $actor AND $after_seq < e.seq < $before_seq AND e.at >= $since AND e.at < $until
WITH substring(e.at, 0, 10) AS day, e
WITH day, count(e) AS events, sum(CASE WHEN e.outcome = 'ok' THEN 0 ELSE 1 END) AS refused,
     collect(CASE WHEN e.outcome = 'ok' THEN e.targets ELSE [] END) AS lists
CALL (lists) { UNWIND lists AS targets UNWIND targets AS t RETURN count(DISTINCT t) AS records }
RETURN day, events, refused, records
ORDER BY day DESC;

// name: auditsearch_user_records
// The records one account was shown in [$since, $until) (outcome ok): each id with how many
// events named it, first and last time, and whether identity or contact was shown for it;
// the most recent first, at most $limit ($total: how many distinct ids in all).
MATCH (e:AuditEvent)
USING INDEX e:AuditEvent(actor, seq)
WHERE e.actor = $actor AND $after_seq < e.seq < $before_seq AND e.at >= $since AND e.at < $until AND e.outcome = 'ok'
UNWIND e.targets AS id
WITH id, count(*) AS count, min(e.at) AS first, max(e.at) AS last,
     max(CASE WHEN e.action IN $identity_actions THEN 1 ELSE 0 END) AS identity,
     max(CASE WHEN e.action IN $contact_actions THEN 1 ELSE 0 END) AS contact
ORDER BY identity + contact DESC, last DESC
WITH collect({id: id, count: count, first: first, last: last, identity: identity = 1, contact: contact = 1}) AS rows
RETURN size(rows) AS total, rows[..$limit] AS rows;

// name: auditsearch_user_identity
// One account's identity reads and contact reveals in [$since, $until), newest first, with reasons.
MATCH (e:AuditEvent)
USING INDEX e:AuditEvent(actor, seq)
WHERE e.actor = $actor AND $after_seq < e.seq < $before_seq AND e.at >= $since AND e.at < $until
  AND e.action IN $sensitive_actions
WITH e ORDER BY e.seq DESC LIMIT $limit
RETURN e.seq AS seq, e.at AS at, e.action AS action, e.targets AS targets, e.reason AS reason,
       e.outcome AS outcome;
