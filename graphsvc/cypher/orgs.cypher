// Partner organisations and their accounts (graphsvc/orgs.py):
//   (:Org {name, created_at}); a partner's account holds its organisation's name:
//   (:User {role: 'partner', org}).
// default class: light

// name: org_create
// Creates the organisation; nothing is returned when one of that name exists.
MERGE (o:Org {name: $org})
ON CREATE SET o.created_at = datetime(), o.just_created = true
WITH o, coalesce(o.just_created, false) AS fresh
REMOVE o.just_created
WITH o, fresh WHERE fresh
RETURN o.name AS name;

// name: org_get
MATCH (o:Org {name: $org})
RETURN o.name AS name, o.created_at AS created_at;

// name: org_list
// Every organisation with its partner accounts (usernames, sorted).
MATCH (o:Org)
OPTIONAL MATCH (u:User {org: o.name})
WITH o, u ORDER BY u.username
RETURN o.name AS name, o.created_at AS created_at, [x IN collect(u.username) WHERE x IS NOT NULL] AS partners
ORDER BY name;

// name: org_of
MATCH (u:User {username: $username})
RETURN u.org AS org;

// name: org_partners
MATCH (u:User {org: $org})
RETURN u.username AS username
ORDER BY username;

// --- sharing households with organisations (graphsvc/sharing.py) ---------------------------
//   (:Household)-[:SHARED_WITH {at, by}]->(:Org)

// name: share_create
// Idempotent: an existing share stays as it was (created false).
MATCH (h:Household {id: $household_id})
MATCH (o:Org {name: $org})
OPTIONAL MATCH (h)-[old:SHARED_WITH]->(o)
WITH h, o, old
CALL (h, o, old) {
  WITH h, o, old WHERE old IS NULL
  CREATE (h)-[r:SHARED_WITH {at: $now, by: $by}]->(o)
  RETURN count(r) AS made
}
RETURN made > 0 AS created;

// name: share_delete
MATCH (:Household {id: $household_id})-[r:SHARED_WITH]->(:Org {name: $org})
DELETE r
RETURN count(*) AS removed;

// name: share_end_claims
// After a share is revoked: the live claims on the household of the organisation's
// partners who did not bring it in themselves (theirs by their own report) end.
MATCH (h:Household {id: $household_id})<-[:ON]-(c:Claim)
WHERE c.ended_at IS NULL AND c.expires_at > $now
MATCH (u:User {username: c.username, org: $org})
WHERE NOT EXISTS { MATCH (h)<-[b:BROUGHT]-(:Visit)<-[:MADE]-(u) WHERE b.merged_from IS NULL }
SET c.ended_at = $now, c.ended_by = 'unshared'
RETURN c.id AS id, c.username AS username;

// name: household_shares
// The organisations a household is shared with (for the coordinator's household page).
MATCH (h:Household {id: $household_id})-[r:SHARED_WITH]->(o:Org)
RETURN o.name AS org, r.at AS at, r.by AS by
ORDER BY org;

// name: partner_candidates
// class: heavy
// A partner's suggestions (graphsvc/sharing.py suggestions): the active households shared
// with $org or brought in by $username's own reports (not merged at intake into another),
// not held by a live claim of someone else, not women_only unless $gender = 'f', not
// declined by them lately; at most $max, each row as suggest_candidates' rows
// [id, code, district, arrived_on, joined_on, last_visit_on, follow_up_on, failed_attempts].
OPTIONAL MATCH (u:User {username: $username})
CALL () {
  OPTIONAL MATCH (h:Household)-[:SHARED_WITH]->(:Org {name: $org})
  RETURN collect(h) AS shared
}
CALL (u) {
  OPTIONAL MATCH (u)-[:MADE]->(:Visit)-[b:BROUGHT]->(h:Household)
  WHERE b.merged_from IS NULL
  RETURN collect(h) AS brought
}
UNWIND shared + brought AS h
WITH DISTINCT u, h
WHERE h.status = 'active' AND ($gender = 'f' OR NOT coalesce(h.women_only, false))
  AND NOT EXISTS { MATCH (h)<-[:ON]-(c:Claim)
                   WHERE c.ended_at IS NULL AND c.expires_at > $now AND c.username <> $username }
  AND NOT EXISTS { MATCH (u)-[:CLAIMED]->(c:Claim)-[:ON]->(h)
                   WHERE c.ended_by = 'decline' AND c.ended_at >= $declined_since }
WITH h ORDER BY h.id LIMIT $max
RETURN [h.id, h.code, h.district, toString(h.arrived_on), toString(h.joined_on),
        toString(h.last_visit_on), toString(h.follow_up_on), coalesce(h.failed_attempts, 0)] AS row;

// name: partner_board
// class: heavy
// The coordinator's desk, "Partners": per organisation, the households shared with it in
// $districts (null: every district), and per partner account of it the visits they
// reported since $since at households of $districts (newest first, at most $limit, and their
// number) and the households those visits brought in.
MATCH (o:Org)
CALL (o) {
  OPTIONAL MATCH (h:Household)-[s:SHARED_WITH]->(o)
  WHERE $districts IS NULL OR h.district IN $districts
  WITH h, s ORDER BY h.code
  RETURN [x IN collect(CASE WHEN h IS NOT NULL THEN {id: h.id, code: h.code, district: h.district,
          status: h.status, shared_at: s.at} END) WHERE x IS NOT NULL] AS shared
}
CALL (o) {
  OPTIONAL MATCH (u:User {org: o.name})
  CALL (u) {
    OPTIONAL MATCH (u)-[:MADE]->(v:Visit)-[:AT]->(h:Household)
    WHERE v.on >= $since AND ($districts IS NULL OR h.district IN $districts)
    WITH v, h ORDER BY v.on DESC, v.id DESC
    RETURN [x IN collect(CASE WHEN v IS NOT NULL THEN {id: v.id, on: v.on, outcome: v.outcome,
            household_id: h.id, code: h.code} END) WHERE x IS NOT NULL] AS visits
  }
  CALL (u) {
    OPTIONAL MATCH (u)-[:MADE]->(v:Visit)-[b:BROUGHT]->(h:Household)
    WHERE v.on >= $since AND b.merged_from IS NULL AND ($districts IS NULL OR h.district IN $districts)
    WITH DISTINCT h ORDER BY h.code
    RETURN [x IN collect(CASE WHEN h IS NOT NULL THEN {id: h.id, code: h.code, status: h.status} END)
            WHERE x IS NOT NULL] AS brought
  }
  WITH u, visits, brought ORDER BY u.username
  RETURN [x IN collect(CASE WHEN u IS NOT NULL THEN {username: u.username,
          enabled: coalesce(u.enabled, false), visit_count: size(visits), visits: visits[..$limit],
          brought: brought} END) WHERE x IS NOT NULL] AS partners
}
RETURN o.name AS org, shared, partners
ORDER BY org;
