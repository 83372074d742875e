// Each person's own key (graphsvc/personkeys.py): a random 256-bit key that seals the
// person's identity fields, stored wrapped by the data key (a v1 token bound to
// PersonKey:<person id>:key). Erasure (graphsvc/erasure.py) deletes it: crypto-shredding.

// name: personkey_get
MATCH (k:PersonKey) WHERE k.person_id IN $ids
RETURN k.person_id AS person_id, k.wrapped AS wrapped;

// name: personkey_create
// Creates the keys that do not exist yet ($rows: person_id, wrapped) and returns every
// one of them as stored (a key made meanwhile by another transaction wins).
UNWIND $rows AS row
MERGE (k:PersonKey {person_id: row.person_id})
  ON CREATE SET k.wrapped = row.wrapped, k.created = datetime()
RETURN k.person_id AS person_id, k.wrapped AS wrapped;

// name: personkey_all
// class: batch
MATCH (k:PersonKey)
RETURN k.person_id AS person_id, k.wrapped AS wrapped;

// name: personkey_rewrap
// class: batch
UNWIND $rows AS row
MATCH (k:PersonKey {person_id: row.person_id})
SET k.wrapped = row.wrapped;

// name: personkey_delete
MATCH (k:PersonKey) WHERE k.person_id IN $ids
DELETE k
RETURN count(*) AS deleted;

// name: personkey_people_to_upgrade
// class: batch
// People with an identity field not yet under a key of their own (a v1 token, or plaintext
// left by an old version), erased people excepted.
MATCH (p:Person)
WHERE coalesce(p.erased, false) = false
  AND any(v IN [p.legal_name, p.phone, p.address] WHERE v IS NOT NULL AND NOT v STARTS WITH 'enc:p1:')
RETURN p.id AS id, p.legal_name AS legal_name, p.phone AS phone, p.address AS address;

// name: personkey_write_people
// class: batch
UNWIND $rows AS row
MATCH (p:Person {id: row.key})
SET p.legal_name = row.legal_name, p.phone = row.phone, p.address = row.address;
