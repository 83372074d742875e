// Alerts (graphsvc/alerts.py): rules evaluated over the audit log, each raising an
// ``alert.<rule>`` audit event at most once per account (or address) per rule per day,
// and their acknowledgement (``alert.ack`` events). Events are only read here; the one
// node written is the small (:AlertMark {key}) that makes "once per day" and "one
// acknowledgement" hold under concurrent checks (unique key: schema.cypher).

// name: alerts_reads_by_account
// Per account, how many distinct households the targets of its successful reads between
// $since and $until name (a range seek on the audit's ``at`` index; households are the
// targets that are Household ids).
MATCH (e:AuditEvent)
WHERE e.at >= $since AND e.at < $until AND e.outcome = 'ok'
  AND (e.action ENDS WITH '.read' OR e.action STARTS WITH 'network.' OR e.action IN $read_actions)
  AND NOT e.actor IN $not_accounts AND NOT e.actor STARTS WITH 'cli:'
UNWIND e.targets AS t
WITH e.actor AS account, collect(DISTINCT t) AS ids
CALL (ids) {
  MATCH (h:Household) WHERE h.id IN ids
  RETURN count(h) AS households
}
RETURN account, households;

// name: alerts_reads_history
// One account's distinct households read per day of the zone $tz between $since and $until
// (through the audit's actor index): the habit that alerts_reads_by_account is compared with.
MATCH (e:AuditEvent {actor: $account})
WHERE e.at >= $since AND e.at < $until AND e.outcome = 'ok'
  AND (e.action ENDS WITH '.read' OR e.action STARTS WITH 'network.' OR e.action IN $read_actions)
WITH substring(toString(datetime({datetime: datetime(e.at), timezone: $tz})), 0, 10) AS day, e.targets AS targets
UNWIND targets AS t
WITH day, collect(DISTINCT t) AS ids
CALL (ids) {
  MATCH (h:Household) WHERE h.id IN ids
  RETURN count(h) AS households
}
RETURN day, households;

// name: alerts_identity_reads
// Successful identity reads (decrypted identity, a household's contact) between $since and
// $until: alerts.py picks those outside the working hours.
MATCH (e:AuditEvent)
WHERE e.at >= $since AND e.at < $until AND e.outcome = 'ok'
  AND (e.action IN $identity_actions OR e.action CONTAINS '.identity')
  AND NOT e.action STARTS WITH 'alert.'
RETURN e.actor AS account, e.at AS at
ORDER BY at;

// name: alerts_denials
// Denied requests between $since and $until (alerts themselves left out), oldest first.
MATCH (e:AuditEvent)
WHERE e.at >= $since AND e.at < $until AND e.outcome = 'denied'
  AND NOT e.action STARTS WITH 'alert.'
RETURN e.actor AS account, e.ip AS ip, e.at AS at, e.detail AS detail
ORDER BY at;

// name: alert_mark
// Claims "this alert (or this acknowledgement) is taken": true only for the transaction that
// created the mark (the unique key makes a concurrent one wait, then find it taken).
MERGE (m:AlertMark {key: $key})
  ON CREATE SET m.token = $token, m.at = $now
RETURN m.token = $token AS created;

// name: alerts_events
// The newest alert events (every ``alert.`` action but the acknowledgements), newest first,
// through the action index's prefix seek.
MATCH (e:AuditEvent)
WHERE e.action STARTS WITH 'alert.' AND e.action <> 'alert.ack'
WITH e ORDER BY e.seq DESC LIMIT $limit
RETURN e.seq AS seq, e.at AS at, e.actor AS actor, e.action AS action, e.ip AS ip,
       e.targets AS targets, e.detail AS detail;

// name: alerts_acks
// Every acknowledgement: which alert (its seq, the first target), by whom, when, the note.
MATCH (a:AuditEvent {action: 'alert.ack'})
RETURN a.seq AS seq, a.at AS at, a.actor AS actor, a.targets AS targets, a.reason AS note;

// name: alert_event
// One alert by its seq (not an acknowledgement, not another event).
MATCH (e:AuditEvent {seq: $seq})
WHERE e.action STARTS WITH 'alert.' AND e.action <> 'alert.ack'
RETURN e.seq AS seq, e.at AS at, e.actor AS actor, e.action AS action, e.ip AS ip,
       e.targets AS targets, e.detail AS detail;
