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
