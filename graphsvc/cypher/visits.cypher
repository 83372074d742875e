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
RETURN h.id AS id, h.district AS district, h.status AS status,
       coalesce(h.women_only, false) AS women_only,
       live.username AS holder, live.id AS claim_id, live.expires_at AS expires_at,
       EXISTS { (h)<-[:AT]-(:Visit)<-[:MADE]-(:User {username: $username}) } AS visited_by_subject,
       EXISTS { MATCH (e:AuditEvent {actor: $username})
                WHERE e.action = $shown_action AND e.at >= $suggested_since AND h.id IN e.targets }
         AS suggested;

// name: claim_create
MATCH (h:Household {id: $household_id})
MATCH (u:User {username: $username})
CREATE (u)-[:CLAIMED]->(c:Claim {id: $claim_id, household_id: h.id, username: u.username,
                                 claimed_at: $now, expires_at: $expires_at})-[:ON]->(h)
RETURN c.id AS id;

// name: claim_extend
MATCH (c:Claim {id: $claim_id})
SET c.expires_at = $expires_at
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
// A visitor's own visits and claims, newest first (at most $limit of each).
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
  WITH c, h ORDER BY c.claimed_at DESC LIMIT $limit
  RETURN collect(CASE WHEN c IS NOT NULL THEN {id: c.id, household_id: h.id, code: h.code,
         claimed_at: c.claimed_at, expires_at: c.expires_at, ended_at: c.ended_at,
         ended_by: c.ended_by} END) AS claims
}
RETURN visits, claims;

// name: visitor_household_facts
// What the policy needs to decide whether a visitor may see a household: its district,
// women_only, and the visitor's link to it: a live claim, a visit, or a suggestion — shown
// to them in their suggestions since $suggested_since (the audit log records the ids every
// suggestions answer showed: events of $shown_action, graphsvc/suggest.py SHOWN_ACTION)
// and still open (active, no live claim of someone else). One row whether the household
// exists or not, and the audit log is searched for $household_id either way: a missing id
// costs what one outside the visitor's reach costs (its answer is the same 404).
CALL () {
  RETURN EXISTS { MATCH (e:AuditEvent {actor: $username})
                  WHERE e.action = $shown_action AND e.at >= $suggested_since
                    AND $household_id IN e.targets } AS suggested
}
OPTIONAL MATCH (h:Household {id: $household_id})
OPTIONAL MATCH (h)<-[:ON]-(c:Claim)
WHERE c.ended_at IS NULL AND c.expires_at > $now
WITH h, suggested, collect(c.username) AS holders
RETURN h IS NOT NULL AS exists, h.id AS id, h.district AS district,
       coalesce(h.women_only, false) AS women_only,
       $username IN holders AS claimed_by_subject,
       coalesce(h.status = 'active', false) AND all(x IN holders WHERE x = $username) AND suggested AS candidate,
       coalesce(h.status = 'active', false) AND suggested AS suggested_and_open,
       EXISTS { (h)<-[:AT]-(:Visit)<-[:MADE]-(:User {username: $username}) } AS visited_by_subject;
