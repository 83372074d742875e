// Statements for the tests and benchmarks only: emptying the database, comparing whole
// states, looking at one record. No application code path runs them (a test checks this),
// and they are the only statements allowed to delete audit events.

// default class: batch
// (tests only)

// name: wipe_all
// Delete every node and relationship, in batches (tests and benchmarks only; needs an
// auto-commit transaction). Batches of 2,000 nodes: with 10,000, the first batch of a
// 100,000-household demo held every user and their ~120,000 visits' relationships and
// ran out of transaction memory at a 512m heap.
MATCH (n)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS;

// name: snapshot
// The whole graph but the audit log, as sorted lists of labels, properties and (start, type, end, properties),
// so that two states can be compared for equality (tests: "nothing changed").
CALL () {
  MATCH (n) WHERE NOT n:AuditEvent AND NOT n:AuditHead AND NOT n:ChainIndexLock
  WITH n ORDER BY labels(n)[0], coalesce(n.id, n.username)
  RETURN collect([labels(n), properties(n)]) AS nodes
}
CALL () {
  MATCH (a)-[r]->(b)
  WHERE NOT a:AuditEvent AND NOT a:AuditHead
  WITH a, r, b ORDER BY coalesce(a.id, a.username), type(r), coalesce(b.id, b.username)
  RETURN collect([coalesce(a.id, a.username), type(r), coalesce(b.id, b.username), properties(r)]) AS rels
}
RETURN nodes, rels;

// name: test_person
MATCH (p:Person {id: $id})
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
OPTIONAL MATCH (a:Person)-[r:INTRODUCED]->(p)
RETURN p.code_name AS code_name, h.id AS household, a.id AS introducer,
       r.relation AS relation, r.on AS introduced_on;

// name: test_visit
MATCH (v:Visit {id: $id})
OPTIONAL MATCH (v)-[:AT]->(h:Household)
OPTIONAL MATCH (u:User)-[:MADE]->(v)
RETURN h.id AS household, u.username AS visitor, v.on AS on, v.outcome AS outcome,
       v.materials AS materials, v.notes AS notes, v.follow_up_on AS follow_up_on;

// name: test_user
MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:IS]->(p:Person)
RETURN u.role AS role, u.districts AS districts, p.id AS person;

// name: test_schema_objects
SHOW CONSTRAINTS YIELD name, type
RETURN name, type;

// name: test_drop_constraint_household_code
DROP CONSTRAINT household_code IF EXISTS;

// name: test_person_raw
MATCH (p:Person {id: $id})
RETURN p.legal_name AS legal_name, p.phone AS phone, p.address AS address;

// name: test_write_probe
// A plaintext control value, to prove that a byte scan of the store would find plaintext.
CREATE (:Probe {text: $text});

// name: test_age_sessions
MATCH (s:Session)
SET s.last_seen_at = datetime() - duration({minutes: $minutes});

// name: test_token_hashes
MATCH (:User {username: $username})-[:HAS_TOKEN]->(t:Token)
RETURN properties(t) AS token;

// name: test_block_audit
// An event that squats on the next sequence number: the next append must fail.
MATCH (h:AuditHead {id: 'head'})
CREATE (:AuditEvent {seq: h.seq + 1, hash: 'squatter'});

// name: test_tamper_audit
// Edit an event's action directly in the database, as an attacker with database access would.
MATCH (e:AuditEvent {seq: $seq})
SET e.action = 'nothing.to.see';

// name: test_expire_tokens
MATCH (:User {username: $username})-[:HAS_TOKEN]->(t:Token)
SET t.expires_at = datetime() - duration({minutes: 1});

// name: test_revoke_tokens_directly
// A revocation written by another process (this one's memory of the token is not told).
MATCH (:User {username: $username})-[:HAS_TOKEN]->(t:Token)
SET t.revoked_at = datetime();

// name: test_set_plaintext_phone
// What a database written before field encryption holds: a plaintext identity field.
MATCH (p:Person {id: $id})
SET p.phone = $phone;

// name: test_household_placements
MATCH (h:Household)
RETURN h.id AS id, h.parent AS parent, h.chain AS chain, h.wave AS wave, h.joined_on AS joined_on
ORDER BY id;

// name: test_set_household_wave
MATCH (h:Household {id: $id}) SET h.wave = $wave;

// name: test_live_claims
MATCH (:Household {id: $household_id})<-[:ON]-(c:Claim)
WHERE c.ended_at IS NULL AND c.expires_at > $now
RETURN c.id AS id, c.username AS username;

// name: test_household_status
MATCH (h:Household {id: $id}) RETURN h.status AS status;

// name: test_suggest_claim
// A claim as graphsvc/visits.py writes it, with any times (expired or ended ones too).
MATCH (h:Household {id: $household_id})
MATCH (u:User {username: $username})
CREATE (u)-[:CLAIMED]->(:Claim {id: $id, household_id: h.id, username: u.username,
                               claimed_at: $claimed_at, expires_at: $expires_at,
                               ended_at: $ended_at, ended_by: $ended_by})-[:ON]->(h);

// name: test_suggest_introduced
// How many introductions join two people, in either direction.
MATCH (a:Person {id: $a})-[r:INTRODUCED]-(b:Person {id: $b})
RETURN count(r) AS n;

// name: test_suggest_visit_summary
MATCH (h:Household {id: $id})
RETURN h.last_visit_on AS last_visit_on, h.follow_up_on AS follow_up_on,
       h.failed_attempts AS failed_attempts, h.unvisited_since AS unvisited_since;

// name: test_suggest_path
// How many introduction paths (either direction) run through the given people in this
// order; a null id stands for anyone.
MATCH p = (a:Person)-[:INTRODUCED*1..3]-(b:Person)
WHERE a.id = $ids[0] AND b.id = $ids[-1] AND length(p) = size($ids) - 1
  AND all(i IN range(0, size($ids) - 1) WHERE $ids[i] IS NULL OR nodes(p)[i].id = $ids[i])
RETURN count(p) AS n;

// name: test_suggest_clear_summary
MATCH (h:Household {id: $id})
REMOVE h.last_visit_on, h.follow_up_on, h.failed_attempts, h.unvisited_since;

// name: test_return_node
// A statement that breaks the rule of graphsvc/db.py (_row): it returns a node.
MERGE (h:Household {id: 'h-node-test'})
RETURN h;

// name: test_slow
// class: heavy
// Seconds of work for nothing (the transaction timeouts' test).
UNWIND range(1, $n) AS a
UNWIND range(1, $n) AS b
RETURN count(*) AS n;

// name: test_age_session_lifetime
// Moves every session's start and absolute end $hours back (the session stays active).
MATCH (s:Session)
SET s.created_at = s.created_at - duration({hours: $hours}),
    s.expires_at = s.expires_at - duration({hours: $hours}),
    s.last_seen_at = datetime();

// name: test_sign_in_state
// The sign-in throttle records and a user's second-factor state (tests of graphsvc/accounts.py).
CALL () { MATCH (t:Throttle) RETURN count(t) AS throttles }
OPTIONAL MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:HAS_SESSION]->(s:Session)
RETURN throttles, u.totp_last_step AS totp_last_step, u.code_failures AS code_failures,
       count(s) AS sessions;

// name: test_expire_throttles
// Every throttle record as if its time had run out long ago.
MATCH (t:Throttle)
SET t.locked_until = datetime() - duration({hours: 2}), t.quiet_from = datetime() - duration({hours: 2}),
    t.expires_at = datetime() - duration({hours: 1});

// name: test_end_throttle_locks
// Ends every running sign-in lock now, as if its time had run out, the counts going on.
MATCH (t:Throttle)
SET t.locked_until = datetime() - duration({seconds: 1}), t.quiet_from = datetime();

// name: test_end_code_lock
MATCH (u:User {username: $username})
SET u.code_locked_until = datetime() - duration({seconds: 1});

// name: test_people_of
// People with their household, its status, code and chain parent, their introducer, and
// the visit that brought the household in.
MATCH (p:Person)-[:MEMBER_OF]->(h:Household)
WHERE p.id IN $ids
OPTIONAL MATCH (i:Person)-[r:INTRODUCED]->(p)
OPTIONAL MATCH (v:Visit)-[:BROUGHT]->(h)
RETURN p.id AS id, p.code_name AS code_name, p.legal_name AS legal_name, p.phone AS phone, p.address AS address,
       h.id AS household_id, h.code AS code, h.status AS status, h.district AS district, h.parent AS parent,
       i.id AS introducer_id, r.on AS introduced_on, v.id AS brought_by_visit;

// name: test_visit_met
MATCH (v:Visit {id: $id})
OPTIONAL MATCH (v)-[:MET]->(p:Person)
RETURN collect(p.id) AS ids;

// name: test_household_summary
MATCH (h:Household {id: $id})
RETURN h.last_visit_on AS last_visit_on, h.follow_up_on AS follow_up_on, h.failed_attempts AS failed_attempts;
