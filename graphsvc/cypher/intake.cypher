// The coordinator's intake (graphsvc/intake.py): households brought back from visits
// (status 'pending', code N-…, (:Visit)-[:BROUGHT]->(:Household)) and what review makes
// of them: confirmed (active, an H- code), merged into an existing household (status
// 'merged', merged_into; its people and the visit's BROUGHT edge go to that household),
// or rejected (status 'rejected', rejected_reason). Policy is decided in Python.

// default class: light

// name: intake_pending
// class: heavy
// The pending households of $districts (null: every district), the longest waiting first
// (by the visit that brought them in), at most $limit: each with the visit and its visitor,
// its people, and the introducer of its first introduced person with that person's
// household. Identity fields stay out: code names only.
MATCH (h:Household {status: 'pending'})
WHERE $districts IS NULL OR h.district IN $districts
OPTIONAL MATCH (u:User)-[:MADE]->(v:Visit)-[:BROUGHT]->(h)
WITH h, v, u ORDER BY v.on, v.id
WITH h, head(collect(CASE WHEN v IS NULL THEN NULL ELSE {id: v.id, on: v.on, visitor: u.username} END)) AS visit
ORDER BY visit.on, h.id
LIMIT $limit
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
  WITH p ORDER BY p.id
  RETURN [x IN collect(CASE WHEN p IS NULL THEN NULL ELSE {id: p.id, code_name: p.code_name} END)
          WHERE x IS NOT NULL] AS people
}
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)<-[r:INTRODUCED]-(i:Person)
  OPTIONAL MATCH (i)-[:MEMBER_OF]->(ih:Household)
  WITH p, r, i, ih ORDER BY p.id
  RETURN head(collect(CASE WHEN i IS NULL THEN NULL ELSE {
           person_id: p.id, id: i.id, code_name: i.code_name, relation: r.relation, on: r.on,
           household_id: ih.id, household_code: ih.code, district: ih.district,
           women_only: coalesce(ih.women_only, false)} END)) AS introducer
}
RETURN h.id AS id, h.code AS code, h.district AS district, coalesce(h.women_only, false) AS women_only,
       visit, people, introducer;

// name: intake_count
// How many households wait for review in $districts (null: every district).
MATCH (h:Household {status: 'pending'})
WHERE $districts IS NULL OR h.district IN $districts
RETURN count(h) AS pending;

// name: intake_lock
// The household under review: its write lock (the write service's, graphsvc/households.py),
// what the decision needs, its people and the visit that brought it in. Nothing when it is
// missing.
MATCH (h:Household {id: $id})
SET h.write_seq = coalesce(h.write_seq, 0) + 1
WITH h
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
  WITH p ORDER BY p.id
  RETURN [x IN collect(p.id) WHERE x IS NOT NULL] AS people
}
CALL (h) {
  OPTIONAL MATCH (v:Visit)-[:BROUGHT]->(h)
  RETURN [x IN collect(v.id) WHERE x IS NOT NULL] AS visits
}
RETURN h.id AS id, h.code AS code, h.district AS district, h.status AS status,
       coalesce(h.women_only, false) AS women_only, h.merged_into AS merged_into, people, visits;

// name: intake_confirm
// The household becomes active under its new code.
MATCH (h:Household {id: $id})
SET h.status = 'active', h.code = $code, h.reviewed_at = $now, h.reviewed_by = $username,
    h.provisional_code = $old_code
RETURN h.id AS id;

// name: intake_reject
MATCH (h:Household {id: $id})
SET h.status = 'rejected', h.rejected_reason = $reason, h.reviewed_at = $now, h.reviewed_by = $username
RETURN h.id AS id;

// name: intake_merge_conflicts
// What merging household $from into $into would break, for each person of $from with an
// introducer: the introducer is a person of $into (the household would introduce itself),
// or $into reaches the introducer's household through introductions (a household cycle:
// the path's households [code, district, women_only], $into first). At most one row per
// person, the first by id first.
MATCH (:Household {id: $from})<-[:MEMBER_OF]-(p:Person)<-[:INTRODUCED]-(i:Person)-[:MEMBER_OF]->(ih:Household)
MATCH (t:Household {id: $into})
WITH p, i, ih, t
ORDER BY p.id
CALL (p, i, ih, t) {
  WITH p, i, ih, t WHERE ih = t
  RETURN 'self' AS kind, [[t.code, t.district, coalesce(t.women_only, false)]] AS path
  UNION
  WITH p, i, ih, t WHERE ih <> t
  MATCH path = SHORTEST 1 (t)(()<-[:MEMBER_OF]-(:Person)-[:INTRODUCED]->(:Person)-[:MEMBER_OF]->()){1,64}(ih)
  RETURN 'cycle' AS kind,
         [n IN nodes(path) WHERE n:Household | [n.code, n.district, coalesce(n.women_only, false)]] AS path
}
RETURN p.id AS person_id, p.code_name AS code_name, i.id AS introducer_id, i.code_name AS introducer_code_name,
       ih.district AS introducer_district, coalesce(ih.women_only, false) AS introducer_women_only, kind, path;

// name: intake_merge
// Household $from goes into household $into: its people become members of $into (their
// introductions go with them), the visits' BROUGHT edges follow (remembering where they
// came from and whom they brought), and $from is kept, status 'merged', pointing at $into.
MATCH (f:Household {id: $from})
MATCH (t:Household {id: $into})
CALL (f, t) {
  OPTIONAL MATCH (p:Person)-[m:MEMBER_OF]->(f)
  WITH p, m WHERE p IS NOT NULL
  DELETE m
  CREATE (p)-[:MEMBER_OF]->(t)
  RETURN count(p) AS moved
}
CALL (f, t) {
  OPTIONAL MATCH (v:Visit)-[b:BROUGHT]->(f)
  WITH v, b WHERE v IS NOT NULL
  DELETE b
  CREATE (v)-[:BROUGHT {merged_from: f.id, merged_code: f.code, people: $people}]->(t)
  RETURN count(v) AS visits
}
SET f.status = 'merged', f.merged_into = t.id, f.reviewed_at = $now, f.reviewed_by = $username
RETURN moved, visits;
