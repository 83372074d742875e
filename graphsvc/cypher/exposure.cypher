// The exposure of an account (graphsvc/exposure.py): what the audit log says it was shown
// since a day, and who is one introduction away from it. Reads only.
// default class: heavy

// name: exposure_events
// The account's successful events since $since (through the actor index), summed up by
// target: each id's last time, first time and number of events, in one record; and,
// apart, the events that showed identity or contact ($marked actions) with their targets,
// for the service to tell which of their targets were the household and its people.
CALL () {
  MATCH (e:AuditEvent {actor: $actor})
  WHERE e.outcome = 'ok' AND e.at >= $since AND e.at < $until
  RETURN count(e) AS events
}
CALL () {
  MATCH (e:AuditEvent {actor: $actor})
  WHERE e.outcome = 'ok' AND e.at >= $since AND e.at < $until
  UNWIND e.targets AS target
  WITH target, max(e.at) AS last_at, min(e.at) AS first_at, count(*) AS times
  RETURN collect([target, last_at, first_at, times]) AS targets
}
CALL () {
  MATCH (e:AuditEvent {actor: $actor})
  WHERE e.outcome = 'ok' AND e.at >= $since AND e.at < $until AND e.action IN $marked
  RETURN collect([e.action, e.at, e.targets]) AS marked
}
CALL () {
  MATCH (e:AuditEvent {actor: $actor})
  WHERE e.outcome = 'ok' AND e.at >= $since AND e.at < $until AND e.action IN $bulk
  RETURN collect([e.action, e.at, e.detail]) AS bulk
}
RETURN events, targets, marked, bulk;

// name: exposure_records
// The households and people among $ids (household id, code, district; person id, code name
// and household), each id looked up in its unique index.
CALL () {
  UNWIND $ids AS id
  MATCH (h:Household {id: id})
  RETURN collect([h.id, h.code, h.district]) AS households
}
CALL () {
  UNWIND $ids AS id
  MATCH (p:Person {id: id})
  OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
  RETURN collect([p.id, p.code_name, h.id, h.code, h.district]) AS people
}
RETURN households, people;

// name: exposure_introductions
// One introduction away from the people in $people, both ways: [person id, code name,
// household id, code, district, the person shown they are linked to, relation]
// (``introducer``: they introduced the person shown; ``introduced``: were introduced by them).
UNWIND $people AS id
MATCH (:Person {id: id})-[r:INTRODUCED]-(o:Person)
OPTIONAL MATCH (o)-[:MEMBER_OF]->(h:Household)
RETURN collect([o.id, o.code_name, h.id, h.code, h.district, id,
                CASE WHEN startNode(r) = o THEN 'introducer' ELSE 'introduced' END]) AS links;

// name: exposure_members
// The people of the households in $households: [person id, code name, household id].
UNWIND $households AS id
MATCH (:Household {id: id})<-[:MEMBER_OF]-(o:Person)
RETURN collect([o.id, o.code_name, id]) AS members;
