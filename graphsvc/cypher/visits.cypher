// Claims and visit reports (graphsvc/visits.py). A claim:
//   (:User)-[:CLAIMED]->(:Claim {id, household_id, username, claimed_at, expires_at,
//                                ended_at, ended_by})-[:ON]->(:Household)
// is live while ended_at IS NULL AND expires_at > now; ended_by is 'visit' (a report
// released it) or 'release'.

// name: claim_lock
// First statement of a claim or a report: writing the household takes its write lock,
// so that concurrent claims of one household queue here until the holder commits; then
// the live claim (if any) and what the policy needs to know. claim_seq counts claims.
MATCH (h:Household {id: $household_id})
SET h.claim_seq = coalesce(h.claim_seq, 0) + 1
WITH h
OPTIONAL MATCH (h)<-[:ON]-(c:Claim)
WHERE c.ended_at IS NULL AND c.expires_at > $now
WITH h, c ORDER BY c.claimed_at DESC
WITH h, head(collect(c)) AS live
RETURN h.id AS id, h.code AS code, h.district AS district, h.status AS status,
       coalesce(h.women_only, false) AS women_only,
       live.username AS holder, live.id AS claim_id, live.expires_at AS expires_at,
       live.assigned_by AS assigned_by,
       EXISTS { (h)<-[:AT]-(:Visit)<-[:MADE]-(:User {username: $username}) } AS visited_by_subject,
       EXISTS { MATCH (e:AuditEvent {actor: $username})
                WHERE e.action = $shown_action AND e.at >= $suggested_since AND h.id IN e.targets }
         AS suggested,
       // a partner's reach (issue 16): shared with $org, or brought in by the subject's own report
       EXISTS { (h)-[:SHARED_WITH]->(:Org {name: $org}) }
         OR EXISTS { MATCH (h)<-[b:BROUGHT]-(:Visit)<-[:MADE]-(:User {username: $username})
                     WHERE b.merged_from IS NULL } AS shared_with_subject;

// name: claim_create
MATCH (h:Household {id: $household_id})
MATCH (u:User {username: $username})
CREATE (u)-[:CLAIMED]->(c:Claim {id: $claim_id, household_id: h.id, username: u.username,
                                 claimed_at: $now, expires_at: $expires_at})-[:ON]->(h)
RETURN c.id AS id;

// name: claim_extend
// (never shorter: an assignment, graphsvc/dispatch.py, lasts longer than a claim)
MATCH (c:Claim {id: $claim_id})
SET c.expires_at = CASE WHEN c.expires_at > $expires_at THEN c.expires_at ELSE $expires_at END
RETURN c.id AS id;

// name: claim_end
// End the caller's live claim on a household (a release or a visit report).
MATCH (:Household {id: $household_id})<-[:ON]-(c:Claim {username: $username})
WHERE c.ended_at IS NULL AND c.expires_at > $now
SET c.ended_at = $now, c.ended_by = $ended_by
RETURN c.id AS id;

// name: visit_create
MATCH (h:Household {id: $household_id})
MATCH (u:User {username: $username})
CREATE (u)-[:MADE]->(v:Visit {id: $id, on: $visited_on, outcome: $outcome, materials: $materials,
                              notes: $notes, follow_up_on: $follow_up_on, reported_at: $now})-[:AT]->(h)
RETURN v.id AS id;

// name: household_set_moved
// A visit that found the household gone: the household's status follows.
MATCH (h:Household {id: $household_id})
SET h.status = 'moved'
RETURN h.id AS id;

// name: visitor_history
// A visitor's own visits (newest first) and claims (live first), at most $limit of each.
MATCH (u:User {username: $username})
CALL (u) {
  OPTIONAL MATCH (u)-[:MADE]->(v:Visit)-[:AT]->(h:Household)
  WITH v, h ORDER BY v.on DESC, v.id DESC LIMIT $limit
  RETURN collect(CASE WHEN v IS NOT NULL THEN {id: v.id, on: v.on, outcome: v.outcome,
         materials: v.materials, follow_up_on: v.follow_up_on, household_id: h.id,
         code: h.code} END) AS visits
}
CALL (u) {
  OPTIONAL MATCH (u)-[:CLAIMED]->(c:Claim)-[:ON]->(h:Household)
  // the live ones first (the visitor's next steps), then the others newest first
  WITH c, h ORDER BY CASE WHEN c.ended_at IS NULL AND c.expires_at > $now THEN 0 ELSE 1 END, c.claimed_at DESC
  LIMIT $limit
  RETURN collect(CASE WHEN c IS NOT NULL THEN {id: c.id, household_id: h.id, code: h.code,
         claimed_at: c.claimed_at, expires_at: c.expires_at, ended_at: c.ended_at,
         ended_by: c.ended_by} END) AS claims
}
RETURN visits, claims;

// name: visitor_household_facts
// What the policy needs to decide whether a visitor may see a household ($household_id:
// its id or its code, as a visitor sees it): its district, women_only, and the visitor's
// link to it: a live claim, a visit, or a suggestion — shown to them in their suggestions
// since $suggested_since (the audit log records the ids every suggestions answer showed:
// events of $shown_action, graphsvc/suggest.py SHOWN_ACTION) and still open (active, no
// live claim of someone else). One row whether the household exists or not, and the audit
// log is searched either way: a missing id costs what one outside the visitor's reach
// costs (its answer is the same 404).
OPTIONAL MATCH (h:Household)
WHERE h.id = $household_id OR h.code = $household_id OR h.code = toUpper($household_id)
WITH h LIMIT 1
WITH h, coalesce(h.id, $household_id) AS wanted
CALL (wanted) {
  RETURN EXISTS { MATCH (e:AuditEvent {actor: $username})
                  WHERE e.action = $shown_action AND e.at >= $suggested_since
                    AND wanted IN e.targets } AS suggested
}
OPTIONAL MATCH (h)<-[:ON]-(c:Claim)
WHERE c.ended_at IS NULL AND c.expires_at > $now
WITH h, suggested, collect(c.username) AS holders,
     collect(CASE WHEN c.assigned_by IS NOT NULL THEN c.username END) AS assignees
RETURN h IS NOT NULL AS exists, h.id AS id, h.district AS district,
       coalesce(h.women_only, false) AS women_only,
       $username IN holders AS claimed_by_subject,
       $username IN assignees AS assigned_to_subject,
       coalesce(h.status = 'active', false) AND all(x IN holders WHERE x = $username) AND suggested AS candidate,
       coalesce(h.status = 'active', false) AND suggested AS suggested_and_open,
       EXISTS { (h)<-[:AT]-(:Visit)<-[:MADE]-(:User {username: $username}) } AS visited_by_subject,
       // a partner's reach (issue 16): shared with $org, or brought in by the subject's own
       // report (not one merged at intake into a household that was there before)
       EXISTS { (h)-[:SHARED_WITH]->(:Org {name: $org}) }
         OR EXISTS { MATCH (h)<-[b:BROUGHT]-(:Visit)<-[:MADE]-(:User {username: $username})
                     WHERE b.merged_from IS NULL } AS shared_with_subject;

// name: user_field_lock
// Second lock of a claim or a contact reveal (after the household's): the visitor's own,
// so that two claims or reveals of one visitor at once are counted one after the other;
// with the live claims they hold.
MATCH (u:User {username: $username})
SET u.field_seq = coalesce(u.field_seq, 0) + 1
// (assignments, graphsvc/dispatch.py, are a coordinator's decision: they do not count)
RETURN COUNT { (u)-[:CLAIMED]->(c:Claim)
               WHERE c.ended_at IS NULL AND c.expires_at > $now AND c.assigned_by IS NULL } AS live_claims;

// name: contact_reveals_since
// The households whose contact the visitor revealed since $since (the audit log's record
// of each reveal: events of $action, the household its first target), and whether an
// alert of $alert_action about them was raised since then.
CALL () {
  OPTIONAL MATCH (e:AuditEvent {actor: $username})
  WHERE e.action = $action AND e.outcome = 'ok' AND e.at >= $since
  RETURN collect(DISTINCT e.targets[0]) AS households
}
RETURN households,
       EXISTS { MATCH (a:AuditEvent {actor: $username})
                WHERE a.action = $alert_action AND a.at >= $since } AS alerted;

// name: household_contact
// The contact person of a household: the member named by h.contact_id, else the first
// member introduced into it (the chain enters there), else the first by id; among those
// with an address or a phone when any has one. Identity still encrypted: the caller
// decrypts the two fields it shows.
MATCH (h:Household {id: $household_id})<-[:MEMBER_OF]-(p:Person)
WITH h, p,
     CASE WHEN p.id = h.contact_id THEN 0 ELSE 1 END AS named,
     CASE WHEN p.phone IS NOT NULL OR p.address IS NOT NULL THEN 0 ELSE 1 END AS reachable,
     CASE WHEN EXISTS { (p)<-[:INTRODUCED]-(:Person) } THEN 0 ELSE 1 END AS entered
ORDER BY named, reachable, entered, p.id
LIMIT 1
RETURN p.id AS person_id, p.code_name AS code_name, p.address AS address, p.phone AS phone;

// name: report_checks
// What a report's parts are checked against: the ids of the visited household's people,
// and which of $districts are districts of this network (of its households or accounts).
MATCH (h:Household {id: $household_id})
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
  RETURN collect(p.id) AS members
}
CALL () {
  UNWIND $districts AS d
  WITH d WHERE EXISTS { MATCH (:Household {district: d}) }
            OR EXISTS { MATCH (u:User) WHERE d IN u.districts }
  RETURN collect(d) AS known
}
RETURN members, known;

// name: visit_met
// The people of the household present at the visit.
MATCH (v:Visit {id: $visit_id})
UNWIND $ids AS id
MATCH (p:Person {id: id})
MERGE (v)-[:MET]->(p)
RETURN count(*) AS met;

// name: visitor_brought
// The households a visitor's visits brought in, newest visit first: where each stands.
// A household merged into another at intake (graphsvc/intake.py) is brought to that one:
// its edge keeps merged_from and the people it brought, whose code name is shown.
MATCH (:User {username: $username})-[:MADE]->(v:Visit)-[b:BROUGHT]->(h:Household)
OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
WHERE b.people IS NULL OR p.id IN b.people
WITH v, b, h, p ORDER BY p.id
WITH v, b, h, head(collect(p.code_name)) AS code_name
ORDER BY v.on DESC, v.id DESC, h.id
LIMIT $limit
RETURN v.id AS visit_id, v.on AS visited_on, h.id AS household_id, h.code AS code,
       CASE WHEN b.merged_from IS NULL THEN h.status ELSE 'merged' END AS status,
       h.district AS district, coalesce(h.women_only, false) AS women_only, code_name;

// name: report_form
// The household a visitor reports on, with its people (id, code name) to tap as met.
MATCH (h:Household {id: $household_id})
OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
WITH h, p ORDER BY p.id
RETURN h.id AS id, h.code AS code, h.district AS district, coalesce(h.women_only, false) AS women_only,
       [x IN collect([p.id, p.code_name]) WHERE x[0] IS NOT NULL] AS members;

// name: visitor_live_claims
// The visitor's live claims: household → until when.
MATCH (:User {username: $username})-[:CLAIMED]->(c:Claim)
WHERE c.ended_at IS NULL AND c.expires_at > $now
RETURN c.household_id AS household_id, c.expires_at AS expires_at;
