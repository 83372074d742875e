// Erasure without breaking the chain (graphsvc/erasure.py): the node stays, its identity goes.

// name: erase_person_facts
// A person, their household and whether they are erased already.
MATCH (p:Person {id: $id})
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
RETURN p.id AS id, h.id AS household_id, coalesce(p.erased, false) AS erased;

// name: erase_household_facts
MATCH (h:Household {id: $id})
RETURN h.id AS id, coalesce(h.erased, false) AS erased;

// name: erase_preview
// What an erasure of these people (and, when $household_id is given, of that household)
// touches, by counts: members, their introductions, visits and visit notes.
MATCH (p:Person) WHERE p.id IN $ids
OPTIONAL MATCH (p)-[r:INTRODUCED]-(:Person)
WITH collect(DISTINCT p) AS people, count(DISTINCT r) AS introductions
OPTIONAL MATCH (v:Visit)-[:AT]->(h:Household {id: $household_id})
RETURN size(people) AS people,
       size([x IN people WHERE coalesce(x.erased, false)]) AS already_erased,
       introductions,
       count(DISTINCT v) AS visits,
       count(DISTINCT CASE WHEN v.notes IS NOT NULL THEN v END) AS notes;

// name: erase_identity
// The stored identity of these people (tokens), read in the erasing transaction to find
// copies of it elsewhere (stored answers) and in the reason given.
MATCH (p:Person) WHERE p.id IN $ids
RETURN p.id AS id, p.code_name AS code_name, p.legal_name AS legal_name, p.phone AS phone, p.address AS address;

// name: erase_people
// The people stay (the introduction chain keeps its shape) as anonymous placeholders:
// identity ciphertexts and blind indexes deleted, code name replaced by a neutral mark
// (pages show "erased person" from the flag), their keys destroyed.
MATCH (p:Person) WHERE p.id IN $ids
SET p.erased = true, p.erased_at = $now, p.code_name = $placeholder
REMOVE p.legal_name, p.phone, p.address, p.phone_bi, p.name_bi, p.name_rev_bi, p.address_bi, p.bi_kid
WITH collect(p.id) AS erased
OPTIONAL MATCH (k:PersonKey) WHERE k.person_id IN erased
DELETE k
RETURN size(erased) AS people, count(k) AS keys;

// name: erase_household
// The household stays too (its place in the chain, district, dates, visit history) but
// is closed to visits; its free-text reason and its visits' notes are shredded, and it is
// no longer shared with any partner organisation (graphsvc/sharing.py).
MATCH (h:Household {id: $id})
SET h.erased = true, h.erased_at = $now, h.status = 'closed'
REMOVE h.status_reason
WITH h
OPTIONAL MATCH (h)-[shared:SHARED_WITH]->(:Org)
DELETE shared
WITH DISTINCT h
OPTIONAL MATCH (v:Visit)-[:AT]->(h)
WHERE v.notes IS NOT NULL
REMOVE v.notes
RETURN count(v) AS notes;

// name: erase_stored_answers
// The stored answers of idempotent requests (graphsvc/idempotency.py), to find those that
// hold an erased person's identity.
MATCH (k:IdempotencyKey) WHERE k.body IS NOT NULL
RETURN k.id AS id, k.body AS body;

// name: erase_drop_answers
// Such answers are dropped; a retry with their key is told the request was carried out.
MATCH (k:IdempotencyKey) WHERE k.id IN $ids
SET k.body = null, k.status = null, k.content_type = null, k.location = null, k.lost = true
RETURN count(k) AS dropped;

// name: household_members_ids
MATCH (p:Person)-[:MEMBER_OF]->(:Household {id: $id})
RETURN p.id AS id ORDER BY p.id;

// name: erase_household_code
MATCH (h:Household {id: $id})
RETURN h.code AS code;
