// Reading and writing back encrypted fields for `graphsvc keys rotate` (graphsvc/rekey.py).

// default class: batch
// (re-encryption reads and writes every identity field)

// name: rekey_read_people
// (and every person with a blind index: rotation recomputes them all, none stays under an old key)
MATCH (p:Person)
WHERE p.legal_name IS NOT NULL OR p.phone IS NOT NULL OR p.address IS NOT NULL OR p.bi_kid IS NOT NULL
RETURN p.id AS id, p.legal_name AS legal_name, p.phone AS phone, p.address AS address, p.bi_kid AS bi_kid;

// name: rekey_write_people
UNWIND $rows AS row
MATCH (p:Person {id: row.key})
SET p.legal_name = row.legal_name, p.phone = row.phone, p.address = row.address;

// name: rekey_write_blind_indexes
// The blind indexes of people under the current key (graphsvc/blindindex.py).
UNWIND $rows AS row
MATCH (p:Person {id: row.key})
SET p.phone_bi = row.phone_bi, p.name_bi = row.name_bi, p.name_rev_bi = row.name_rev_bi,
    p.address_bi = row.address_bi, p.bi_kid = row.bi_kid;

// name: rekey_read_visits
MATCH (v:Visit) WHERE v.notes IS NOT NULL
RETURN v.id AS id, v.notes AS notes;

// name: rekey_write_visits
UNWIND $rows AS row
MATCH (v:Visit {id: row.key})
SET v.notes = row.notes;

// name: rekey_read_users
MATCH (u:User) WHERE u.totp_secret IS NOT NULL
RETURN u.username AS username, u.totp_secret AS totp_secret;

// name: rekey_write_users
UNWIND $rows AS row
MATCH (u:User {username: row.key})
SET u.totp_secret = row.totp_secret;
