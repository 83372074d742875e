// Statements for tests/test_erasure.py and tests/test_erasure_web.py.

// name: test_node_props
MATCH (n {id: $id})
RETURN labels(n) AS labels, properties(n) AS props;

// name: test_person_keys
MATCH (k:PersonKey)
RETURN k.person_id AS person_id, k.wrapped AS wrapped ORDER BY person_id;

// name: test_household_notes
MATCH (v:Visit)-[:AT]->(:Household {id: $id})
RETURN v.id AS id, v.notes AS notes ORDER BY id;

// name: test_every_audit_event
MATCH (e:AuditEvent)
RETURN e.seq AS seq, properties(e) AS props ORDER BY seq;

// name: test_introductions
MATCH (a:Person)-[r:INTRODUCED]->(b:Person)
RETURN a.id AS introducer, b.id AS introduced ORDER BY introducer, introduced;

// name: test_store_answer
// A stored answer of an idempotent request (graphsvc/idempotency.py), made by hand.
CREATE (k:IdempotencyKey {id: $id, owner: $owner, key: $key, fingerprint: 'f', method: 'POST', path: '/x',
                          created_at: datetime(), expires_at: datetime() + duration('PT24H'),
                          status: 201, content_type: 'application/json', body: $body});

// name: test_answer
MATCH (k:IdempotencyKey {id: $id})
RETURN k.body AS body, k.status AS status, coalesce(k.lost, false) AS lost;
