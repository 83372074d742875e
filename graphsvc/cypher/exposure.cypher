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

// name: exposure_links
// One introduction away from the people in $people (their introducer, whom they
// introduced) and the people of the same household as they, or of a household in
// $households: [person id, code name, household id, code, district, the id it is linked
// through, relation]. The service leaves out those shown themselves.
CALL () {
  UNWIND $people AS id
  MATCH (s:Person {id: id})
  CALL (s) {
    MATCH (o:Person)-[:INTRODUCED]->(s)
    RETURN o, 'introducer' AS relation
    UNION
    MATCH (s)-[:INTRODUCED]->(o:Person)
    RETURN o, 'introduced' AS relation
    UNION
    MATCH (s)-[:MEMBER_OF]->(:Household)<-[:MEMBER_OF]-(o:Person)
    WHERE o <> s
    RETURN o, 'household' AS relation
  }
  RETURN s.id AS via, o, relation
  UNION
  UNWIND $households AS id
  MATCH (:Household {id: id})<-[:MEMBER_OF]-(o:Person)
  RETURN id AS via, o, 'household' AS relation
}
OPTIONAL MATCH (o)-[:MEMBER_OF]->(h:Household)
RETURN collect([o.id, o.code_name, h.id, h.code, h.district, via, relation]) AS links;
