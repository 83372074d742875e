// The coordinator's desk (graphsvc/dispatch.py): assignments and follow-ups.
//
// An assignment is a claim that a coordinator made for a visitor:
//   (:User)-[:CLAIMED]->(:Claim {…, assigned_by, reason})-[:ON]->(:Household)
// (cypher/visits.cypher). It ends like a claim (ended_at, ended_by): 'visit' (reported),
// 'unassign' (the coordinator released it), 'reassign' (given to another visitor),
// 'decline' (the visitor gave it back, with decline_reason), 'release'.
// A follow-up is the follow_up_on of a household's latest visit; a snooze is kept on that
// visit (snoozed_until, snoozed_by, snoozed_at), so a newer visit leaves it behind.

// name: dispatch_lock
// First statement of an assignment, a release, a decline or a snooze: writes the
// household (the same lock as claim_lock, so that claims and assignments of one household
// queue one after another), then what they decide on: its live claim, its latest visit.
MATCH (h:Household {id: $household_id})
SET h.claim_seq = coalesce(h.claim_seq, 0) + 1
WITH h
OPTIONAL MATCH (h)<-[:ON]-(c:Claim)
WHERE c.ended_at IS NULL AND c.expires_at > $now
WITH h, c ORDER BY c.claimed_at DESC
WITH h, head(collect(c)) AS live
CALL (h) {
  OPTIONAL MATCH (h)<-[:AT]-(v:Visit)
  OPTIONAL MATCH (v)<-[:MADE]-(u:User)
  WITH v, u ORDER BY v.on DESC, v.id DESC LIMIT 1
  RETURN v.id AS visit_id, v.follow_up_on AS follow_up_on, v.snoozed_until AS snoozed_until,
         u.username AS visit_by
}
RETURN h.id AS id, h.code AS code, h.district AS district, h.status AS status,
       coalesce(h.women_only, false) AS women_only,
       live.username AS holder, live.id AS claim_id, live.assigned_by AS assigned_by,
       live.expires_at AS expires_at,
       visit_id, follow_up_on, snoozed_until, visit_by;

// name: dispatch_visitor
// The account a household is to be assigned to: may it take the assignment?
MATCH (u:User {username: $username})
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts,
       u.gender AS gender, coalesce(u.enabled, true) AS enabled;

// name: assign_create
MATCH (h:Household {id: $household_id})
MATCH (u:User {username: $username})
CREATE (u)-[:CLAIMED]->(c:Claim {id: $claim_id, household_id: h.id, username: u.username,
                                 claimed_at: $now, expires_at: $expires_at,
                                 assigned_by: $assigned_by, reason: $reason})-[:ON]->(h)
RETURN c.id AS id;

// name: assign_adopt
// The visitor's own live claim becomes the coordinator's assignment (it lasts at least
// as long as an assignment).
MATCH (c:Claim {id: $claim_id})
SET c.assigned_by = $assigned_by, c.reason = $reason,
    c.expires_at = CASE WHEN c.expires_at > $expires_at THEN c.expires_at ELSE $expires_at END
RETURN c.id AS id;

// name: claim_end_any
// End the live claim on a household, whoever holds it ($ended_by says why; a decline
// keeps its reason).
MATCH (:Household {id: $household_id})<-[:ON]-(c:Claim {id: $claim_id})
WHERE c.ended_at IS NULL
SET c.ended_at = $now, c.ended_by = $ended_by, c.decline_reason = $decline_reason
RETURN c.id AS id, c.username AS username;

// name: follow_up_snooze
MATCH (v:Visit {id: $visit_id})
SET v.snoozed_until = $until, v.snoozed_by = $username, v.snoozed_at = $now
RETURN v.id AS id;

// name: visitor_assignments
// A visitor's live assignments, newest first: their cards at the top of the suggestions.
MATCH (:User {username: $username})-[:CLAIMED]->(c:Claim)-[:ON]->(h:Household)
WHERE c.ended_at IS NULL AND c.expires_at > $now AND c.assigned_by IS NOT NULL
RETURN h.id AS household_id, h.code AS code, h.district AS district,
       coalesce(h.women_only, false) AS women_only, c.id AS claim_id, c.assigned_by AS assigned_by,
       c.reason AS reason, c.claimed_at AS assigned_at, c.expires_at AS expires_at
ORDER BY c.claimed_at DESC, h.id;

// name: visitor_follow_ups
// The follow-ups a visitor planned (at the latest visit of each household, theirs) that
// are due by $today, counting a snooze: the earliest first. A partner ($org, issue 16): of
// the households shared with their organisation or brought in by them, never by district.
MATCH (u:User {username: $username})-[:MADE]->(v:Visit)-[:AT]->(h:Household)
WHERE v.follow_up_on IS NOT NULL AND h.status = 'active'
  AND (h.district IN $districts
       OR ($org IS NOT NULL AND (EXISTS { (h)-[:SHARED_WITH]->(:Org {name: $org}) }
                                 OR EXISTS { MATCH (h)<-[b:BROUGHT]-(:Visit)<-[:MADE]-(u)
                                             WHERE b.merged_from IS NULL })))
  AND ($gender = 'f' OR NOT coalesce(h.women_only, false))
  AND NOT EXISTS { MATCH (h)<-[:AT]-(w:Visit) WHERE w.on > v.on OR (w.on = v.on AND w.id > v.id) }
WITH h, v, CASE WHEN v.snoozed_until > v.follow_up_on THEN v.snoozed_until ELSE v.follow_up_on END AS due_on
WHERE due_on <= $today
RETURN h.id AS household_id, h.code AS code, h.district AS district, v.id AS visit_id, v.on AS visited_on,
       v.follow_up_on AS follow_up_on, v.snoozed_until AS snoozed_until, due_on
ORDER BY due_on, h.id
LIMIT $limit;

// name: dispatch_districts
// class: heavy
// Every district of the network (an admin's desk covers them all).
MATCH (h:Household)
RETURN collect(DISTINCT h.district) AS districts;

// name: dispatch_needs_visit
// class: heavy
// Per district of $districts: the active households that need a visit (never visited,
// follow-up come, or last visit before $overdue_before), at most $limit of each kind,
// longest waiting first, with their live claim; and how many there are in all.
UNWIND $districts AS d
CALL (d) {
  MATCH (h:Household)
  WHERE h.district = d AND h.status = 'active'
    AND (h.unvisited_since IS NOT NULL OR h.follow_up_on <= $today OR h.last_visit_on < $overdue_before)
  RETURN count(h) AS total
}
CALL (d) {
  MATCH (h:Household)
  WHERE h.district = d AND h.unvisited_since IS NOT NULL AND h.status = 'active'
  WITH h ORDER BY h.district, h.unvisited_since LIMIT $limit
  RETURN collect([h, 'never_visited', h.unvisited_since]) AS never
}
CALL (d) {
  MATCH (h:Household)
  WHERE h.district = d AND h.follow_up_on <= $today AND h.status = 'active'
  WITH h ORDER BY h.district, h.follow_up_on LIMIT $limit
  RETURN collect([h, 'follow_up_due', h.follow_up_on]) AS follow_up
}
CALL (d) {
  MATCH (h:Household)
  WHERE h.district = d AND h.last_visit_on < $overdue_before AND h.status = 'active'
    AND NOT coalesce(h.follow_up_on <= $today, false)
  WITH h ORDER BY h.district, h.last_visit_on LIMIT $limit
  RETURN collect([h, 'overdue', h.last_visit_on]) AS overdue
}
WITH d, total, never + follow_up + overdue AS found
CALL (found) {
  UNWIND found AS x
  WITH x[0] AS h, x[1] AS kind, x[2] AS since
  OPTIONAL MATCH (h)<-[:ON]-(c:Claim)
  WHERE c.ended_at IS NULL AND c.expires_at > $now
  WITH h, kind, since, c ORDER BY c.claimed_at DESC
  WITH h, kind, since, head(collect(c)) AS live
  RETURN collect({id: h.id, code: h.code, district: h.district, women_only: coalesce(h.women_only, false),
                  kind: kind, since: since, last_visit_on: h.last_visit_on,
                  holder: live.username, claim_id: live.id, assigned_by: live.assigned_by,
                  expires_at: live.expires_at}) AS households
}
RETURN d AS district, total, households;

// name: dispatch_visitors
// class: heavy
// The field workers of $districts (their role in $roles), with their live claims and
// assignments on households of $districts and how many visits they made there since $since.
MATCH (u:User)
WHERE u.role IN $roles AND any(d IN coalesce(u.districts, []) WHERE d IN $districts)
CALL (u) {
  OPTIONAL MATCH (u)-[:CLAIMED]->(c:Claim)-[:ON]->(h:Household)
  WHERE c.ended_at IS NULL AND c.expires_at > $now AND h.district IN $districts
  WITH c, h ORDER BY c.claimed_at DESC
  RETURN collect(CASE WHEN c IS NOT NULL THEN {household_id: h.id, code: h.code, claim_id: c.id,
                 assigned_by: c.assigned_by, reason: c.reason, expires_at: c.expires_at} END) AS claims
}
CALL (u) {
  OPTIONAL MATCH (u)-[:MADE]->(v:Visit)-[:AT]->(h:Household)
  WHERE v.on >= $since AND h.district IN $districts
  RETURN count(v) AS recent_visits
}
RETURN u.username AS username, u.gender AS gender, coalesce(u.enabled, true) AS enabled,
       [d IN coalesce(u.districts, []) WHERE d IN $districts] AS districts, claims, recent_visits
ORDER BY u.username;

// name: dispatch_declines
// class: heavy
// Assignments declined since $since on households of $districts, newest first.
MATCH (u:User)-[:CLAIMED]->(c:Claim)-[:ON]->(h:Household)
WHERE c.ended_by = 'decline' AND c.ended_at >= $since_time AND h.district IN $districts
RETURN h.id AS household_id, h.code AS code, h.district AS district, u.username AS username,
       c.id AS claim_id, c.assigned_by AS assigned_by, c.decline_reason AS reason, c.ended_at AS declined_at
ORDER BY c.ended_at DESC
LIMIT $limit;

// name: dispatch_follow_ups
// class: heavy
// Follow-ups due in $districts (of each active household's latest visit, counting a
// snooze), with the visitor who planned them: the earliest first.
MATCH (h:Household)
WHERE h.district IN $districts AND h.follow_up_on <= $today AND h.status = 'active'
CALL (h) {
  MATCH (h)<-[:AT]-(v:Visit)
  WITH v ORDER BY v.on DESC, v.id DESC LIMIT 1
  OPTIONAL MATCH (v)<-[:MADE]-(u:User)
  RETURN v, u.username AS visitor
}
WITH h, v, visitor,
     CASE WHEN v.snoozed_until > v.follow_up_on THEN v.snoozed_until ELSE v.follow_up_on END AS due_on
WHERE due_on <= $today
RETURN h.id AS household_id, h.code AS code, h.district AS district, v.id AS visit_id, visitor,
       v.on AS visited_on, v.follow_up_on AS follow_up_on, v.snoozed_until AS snoozed_until,
       v.snoozed_by AS snoozed_by, due_on
ORDER BY due_on, h.id
LIMIT $limit;
