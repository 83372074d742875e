// Batched upserts used by `graphsvc import`: each takes $rows, a list of already validated
// maps (dates as Date values, enums canonical), and is idempotent, so that importing the
// same files twice changes nothing and an interrupted import can simply be run again.

// default class: batch
// (imports write in batches of thousands of rows)

// name: import_users
UNWIND $rows AS row
MERGE (u:User {username: row.username})
SET u.role = row.role, u.districts = row.districts, u.gender = row.gender;

// name: import_households
UNWIND $rows AS row
MERGE (h:Household {id: row.id})
SET h.code = row.code, h.district = row.district, h.arrived_on = row.arrived_on,
    h.status = row.status, h.women_only = row.women_only
// the chain index (graphsvc/chains.py) when the importer could place the household
FOREACH (_ IN CASE WHEN row.placed THEN [1] ELSE [] END |
  SET h.parent = row.parent, h.chain = row.chain, h.wave = row.wave, h.joined_on = row.joined_on,
      h.last_visit_on = row.last_visit_on, h.follow_up_on = row.follow_up_on,
      h.failed_attempts = row.failed_attempts, h.unvisited_since = row.unvisited_since);

// name: import_people
// A person belongs to one household: a row naming another household moves them.
UNWIND $rows AS row
MATCH (h:Household {id: row.household_id})
MERGE (p:Person {id: row.id})
WITH p, h, row
// an erased person (graphsvc/erasure.py) stays erased: a file from before cannot bring them back
CALL (p, row) {
  WITH p, row WHERE coalesce(p.erased, false) = false
  SET p.code_name = row.code_name, p.legal_name = row.legal_name, p.phone = row.phone,
      p.address = row.address, p.phone_bi = row.phone_bi, p.name_bi = row.name_bi,
      p.name_rev_bi = row.name_rev_bi, p.address_bi = row.address_bi, p.bi_kid = row.bi_kid
}
WITH p, h
CALL (p, h) {
  // no label on `other`: the plan must expand from p, never scan an index per row
  MATCH (p)-[old:MEMBER_OF]->(other) WHERE other <> h
  DELETE old
}
MERGE (p)-[:MEMBER_OF]->(h);

// name: import_user_people
// Link users to the person they are (users.csv `person_id`); an empty person_id unlinks.
UNWIND $rows AS row
MATCH (u:User {username: row.username})
CALL (u, row) {
  // no label on `other`: with one, a planner whose Person(id) statistics are stale (right
  // after the first import) scans that index for every user (bench/RESULTS.md: 107 s
  // instead of 0.07 s for 671 users)
  MATCH (u)-[old:IS]->(other) WHERE other.id <> coalesce(row.person_id, '')
  DELETE old
}
WITH u, row WHERE row.person_id IS NOT NULL
MATCH (p:Person {id: row.person_id})
MERGE (u)-[:IS]->(p);

// name: import_introductions
UNWIND $rows AS row
MATCH (a:Person {id: row.introducer_id})
MATCH (b:Person {id: row.introduced_id})
MERGE (a)-[r:INTRODUCED]->(b)
SET r.on = row.introduced_on, r.relation = row.relation;

// name: import_visits
UNWIND $rows AS row
MATCH (h:Household {id: row.household_id})
MATCH (u:User {username: row.visitor})
MERGE (v:Visit {id: row.id})
SET v.on = row.visited_on, v.outcome = row.outcome, v.materials = row.materials,
    v.notes = row.notes, v.follow_up_on = row.follow_up_on
WITH v, h, u
CALL (v, h, u) {
  MATCH (v)-[old:AT]->(other) WHERE other <> h
  DELETE old
}
CALL (v, h, u) {
  MATCH (by)-[old:MADE]->(v) WHERE by <> u
  DELETE old
}
MERGE (v)-[:AT]->(h)
MERGE (u)-[:MADE]->(v);

// --- what the validator asks of the database before anything is written ----------------

// name: known_households
UNWIND $ids AS id
MATCH (h:Household {id: id})
RETURN h.id AS id;

// name: known_household_codes
UNWIND $codes AS code
MATCH (h:Household {code: code})
RETURN h.code AS code, h.id AS id;

// name: known_people
UNWIND $ids AS id
MATCH (p:Person {id: id})
RETURN p.id AS id;

// name: known_users
UNWIND $usernames AS username
MATCH (u:User {username: username})
RETURN u.username AS username;

// name: known_introductions
// Every introduction in the database, as (introduced, introducer): the validator needs
// them all to find a second introducer or a cycle that the new rows would close.
MATCH (a:Person)-[:INTRODUCED]->(b:Person)
RETURN b.id AS introduced_id, a.id AS introducer_id;

// name: known_any_chain
// Whether any introduction or chain placement is stored (a first import places the
// households itself).
// Visits count too: the first import also writes the visit summary of its households.
RETURN EXISTS { ()-[:INTRODUCED]->() } OR EXISTS { MATCH (h:Household) WHERE h.parent IS NOT NULL }
       OR EXISTS { MATCH (:Visit) } AS any;

// name: stored_person_identity
// The encrypted identity fields already stored for these people: a value whose plaintext
// did not change keeps its ciphertext (a re-import changes nothing).
UNWIND $ids AS id
MATCH (p:Person {id: id})
RETURN p.id AS id, p.legal_name AS legal_name, p.phone AS phone, p.address AS address;

// name: stored_visit_notes
UNWIND $ids AS id
MATCH (v:Visit {id: id})
RETURN v.id AS id, v.notes AS notes;

// name: stored_key_sample
// The data key of one person's blind indexes (bi_kid): the importer refuses a keyring that
// does not hold it (the wrong data key would write rows no other process can read).
MATCH (p:Person)
WHERE p.bi_kid IS NOT NULL
RETURN p.bi_kid AS kid
LIMIT 1;
