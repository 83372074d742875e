// The exposure of an account (graphsvc/exposure.py): what the audit log says it was shown
// since a day, and who is one introduction away from it. Reads only.
// default class: heavy

// name: exposure_events
// The account's successful events since $since (through the actor index, each event's
// properties read once), summed up by target: each id's last time, first time and number
// of events; the households and people among those ids (each looked up in its unique
// index: household id, code, district; person id, code name and household); and, apart,
// the events that showed identity or contact ($marked actions) with their targets, for the
// service to tell which of their targets were the household read and its people, and the
// bulk exports ($bulk), which name no records.
MATCH (e:AuditEvent {actor: $actor})
WHERE e.outcome = 'ok' AND e.at >= $since AND e.at < $until
WITH collect([e.at, e.action, e.targets, e.detail]) AS events
CALL (events) {
  UNWIND events AS e
  UNWIND e[2] AS target
  WITH target, max(e[0]) AS last_at, min(e[0]) AS first_at, count(*) AS times
  RETURN collect([target, last_at, first_at, times]) AS targets, collect(target) AS ids
}
CALL (ids) {
  UNWIND ids AS id
  MATCH (h:Household {id: id})
  RETURN collect([h.id, h.code, h.district]) AS households
}
CALL (ids) {
  UNWIND ids AS id
  MATCH (p:Person {id: id})
  OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
  RETURN collect([p.id, p.code_name, h.id, h.code, h.district]) AS people
}
RETURN size(events) AS events, targets, households, people,
       [e IN events WHERE e[1] IN $marked | [e[1], e[0], e[2]]] AS marked,
       [e IN events WHERE e[1] IN $bulk | [e[1], e[0], e[3]]] AS bulk;

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
