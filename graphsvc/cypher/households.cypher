// One household as the views show it (graphsvc/households.py). Policy is not decided
// here: the core asks graphsvc.access with the facts these return.

// name: household_facts
// What the policy needs to know of a household for staff ($household_id: its id or its
// code): one row whether it exists or not (exists false), so that a missing id and one
// outside the caller's reach cost the same.
OPTIONAL MATCH (h:Household)
WHERE h.id = $household_id OR h.code = $household_id OR h.code = toUpper($household_id)
WITH h LIMIT 1
RETURN h IS NOT NULL AS exists, h.id AS id, h.district AS district,
       coalesce(h.women_only, false) AS women_only, false AS claimed_by_subject,
       false AS candidate, false AS suggested_and_open, false AS visited_by_subject,
       false AS assigned_to_subject, false AS shared_with_subject;

// name: household_view
MATCH (h:Household {id: $id})
OPTIONAL MATCH (p:Person)-[:MEMBER_OF]->(h)
OPTIONAL MATCH (i:Person)-[r:INTRODUCED]->(p)
OPTIONAL MATCH (i)-[:MEMBER_OF]->(ih:Household)
WITH h, p, i, r, ih ORDER BY p.id
WITH h, [x IN collect(CASE WHEN p IS NULL THEN NULL ELSE {
          id: p.id, code_name: p.code_name, legal_name: p.legal_name, phone: p.phone,
          address: p.address, introducer_id: i.id, introducer_code_name: i.code_name,
          introducer_district: ih.district, introducer_women_only: coalesce(ih.women_only, false),
          introduced_on: r.on, relation: r.relation} END) WHERE x IS NOT NULL] AS members
OPTIONAL MATCH (v:Visit)-[:AT]->(h)
OPTIONAL MATCH (u:User)-[:MADE]->(v)
WITH h, members, v, u ORDER BY v.on DESC, v.id DESC
WITH h, members, [x IN collect(CASE WHEN v IS NULL THEN NULL ELSE {
          id: v.id, on: v.on, outcome: v.outcome, materials: v.materials, notes: v.notes,
          notes_retained_days: v.notes_retained_days,
          visitor: u.username} END) WHERE x IS NOT NULL] AS visits
OPTIONAL MATCH (h)<-[:ON]-(c:Claim {username: $username})
WHERE c.ended_at IS NULL AND c.expires_at > $now
WITH h, members, visits, c ORDER BY c.claimed_at DESC
WITH h, members, visits, head(collect(CASE WHEN c IS NULL THEN NULL ELSE {id: c.id, expires_at: c.expires_at} END))
     AS claim
RETURN h.id AS id, h.code AS code, h.district AS district, h.arrived_on AS arrived_on,
       h.status AS status, h.status_reason AS status_reason, members, visits, claim,
       any(x IN visits WHERE x.visitor = $username) AS visited_by_subject;

// --- the write service (graphsvc/households.py): one record at a time --------------------
// Each write transaction first takes a lock (a SET), then reads what it decides on, then
// writes: concurrent writes of one household, or of any introduction, queue at the lock.

// name: household_lock
// The household's write lock and what a correction decides on (nothing when it is missing).
MATCH (h:Household {id: $id})
SET h.write_seq = coalesce(h.write_seq, 0) + 1
RETURN h.id AS id, h.code AS code, h.district AS district, h.arrived_on AS arrived_on, h.status AS status,
       coalesce(h.women_only, false) AS women_only, h.status_reason AS status_reason;

// name: introductions_lock
// One lock for every change of introductions or memberships: "no cycle" and "one
// introducer" are decided on the whole forest, so two such changes never run at once.
MERGE (l:WriteLock {name: 'introductions'})
SET l.seq = coalesce(l.seq, 0) + 1
RETURN l.seq AS seq;

// name: household_code_owner
MATCH (h:Household {code: $code})
RETURN h.id AS id;

// name: household_create
CREATE (h:Household {id: $id, code: $code, district: $district, arrived_on: $arrived_on,
                     status: $status, women_only: $women_only})
RETURN h.id AS id;

// name: household_update
// Sets the given fields ($fields: name → value; the service passes only the household's
// own fields).
MATCH (h:Household {id: $id})
SET h += $fields
RETURN h.id AS id;

// name: person_facts
// A person, their household (district, women_only) and their introducer.
MATCH (p:Person {id: $id})
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
OPTIONAL MATCH (i:Person)-[r:INTRODUCED]->(p)
RETURN p.id AS id, p.code_name AS code_name, h.id AS household_id, h.district AS district,
       coalesce(h.women_only, false) AS women_only, i.id AS introducer_id, r.on AS introduced_on,
       r.relation AS relation;

// name: person_create
MATCH (h:Household {id: $household_id})
CREATE (p:Person {id: $id, code_name: $code_name, legal_name: $legal_name, phone: $phone, address: $address,
                  phone_bi: $phone_bi, name_bi: $name_bi, name_rev_bi: $name_rev_bi, address_bi: $address_bi,
                  bi_kid: $bi_kid})
CREATE (p)-[:MEMBER_OF]->(h)
RETURN p.id AS id;

// name: person_update
MATCH (p:Person {id: $id})
SET p += $fields
RETURN p.id AS id;

// name: person_move
// The person belongs to $household_id from now on (one household at a time).
MATCH (p:Person {id: $id})
MATCH (h:Household {id: $household_id})
OPTIONAL MATCH (p)-[old:MEMBER_OF]->()
DELETE old
CREATE (p)-[:MEMBER_OF]->(h)
RETURN p.id AS id;

// name: person_ancestors
// The people from a person's seed down to the person (the introducers above them), seed
// first: adding "X introduced this person" closes a cycle when X's ancestors hold them.
MATCH (p:Person {id: $id})
MATCH path = (s:Person)-[:INTRODUCED*0..]->(p)
WHERE NOT EXISTS { ()-[:INTRODUCED]->(s) }
RETURN [n IN nodes(path) | n.id] AS ids
LIMIT 1;

// name: introduction_set
// $introducer introduced $introduced (replacing any introducer they had).
MATCH (b:Person {id: $introduced})
MATCH (a:Person {id: $introducer})
OPTIONAL MATCH (:Person)-[old:INTRODUCED]->(b)
DELETE old
CREATE (a)-[:INTRODUCED {on: $on, relation: $relation}]->(b)
RETURN b.id AS id;

// name: introduction_remove
MATCH (:Person)-[r:INTRODUCED]->(b:Person {id: $introduced})
DELETE r
RETURN count(r) AS removed;

// name: household_create_introduced
// Households brought back from a visit, awaiting review ($rows, one each): its first
// person, introduced by a person of the visited household on the visit's date, and the
// visit that brought it in. (The caller holds the introductions lock; the person is new, so
// it has no other introducer and closes no cycle.)
MATCH (v:Visit {id: $visit_id})
UNWIND $rows AS row
MATCH (a:Person {id: row.introducer})
// Its visit summary is set here (never visited, waiting since the introduction: what
// visit_summary_refresh derives once the chain index has its joined_on, the same date).
CREATE (h:Household {id: row.id, code: row.code, district: row.district, status: 'pending',
                     women_only: row.women_only, arrived_on: null, failed_attempts: 0,
                     unvisited_since: $on})
CREATE (p:Person {id: row.person_id, code_name: row.code_name, legal_name: row.legal_name,
                  phone: row.phone, address: row.address, phone_bi: row.phone_bi, name_bi: row.name_bi,
                  name_rev_bi: row.name_rev_bi, address_bi: row.address_bi, bi_kid: row.bi_kid})-[:MEMBER_OF]->(h)
CREATE (a)-[:INTRODUCED {on: $on, relation: row.relation}]->(p)
CREATE (v)-[:BROUGHT]->(h)
RETURN count(h) AS households;

// name: household_code_counter
// The next household code (graphsvc/households.py next_code): the last code given, kept so
// that a new household does not scan every code of a large network. Writing the counter
// takes its write lock first, so that two transactions giving codes (a confirmation at
// intake, a household created on the desk) queue here and never give one code twice.
MERGE (c:HouseholdCodeCounter {id: 'H'})
SET c.taken = coalesce(c.taken, 0) + 1
RETURN c.last AS last, c.width AS width;

// name: household_code_top
// The highest number among household codes of the form H-<digits>, and how many digits it
// is written with (codes keep the width the network uses: H-0401 after H-0400); read only
// when the counter has none yet, or its next code was taken meanwhile (an import, a
// correction). Under the counter's lock.
MATCH (h:Household)
WHERE h.code STARTS WITH 'H-'
WITH h.code AS code
WHERE code =~ 'H-[0-9]{1,18}'
WITH code, toInteger(substring(code, 2)) AS n
ORDER BY n DESC, size(code) DESC
LIMIT 1
RETURN n AS top, size(code) - 2 AS width;

// name: household_code_counter_set
MATCH (c:HouseholdCodeCounter {id: 'H'})
SET c.last = $last, c.width = $width
RETURN c.last AS last;
