// Running accounts (graphsvc/team.py): role, districts, gender, enabled, one-time
// password-reset links. A reset link is stored as the SHA-256 of its 256-bit random token.
// default class: light

// name: account_lock
// First statement of a change of an account: writing the user takes its write lock (two
// changes of one account queue here), then its state is read under that lock.
MATCH (u:User {username: $username})
SET u.change_seq = coalesce(u.change_seq, 0) + 1
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       coalesce(u.enabled, false) AS enabled, u.password_hash IS NOT NULL AS has_password,
       coalesce(u.enabled = false, false) AS disabled;

// name: account_update
// $enabled null: as it is (an account an import made has none until its first password).
MATCH (u:User {username: $username})
SET u.role = $role, u.districts = $districts, u.gender = $gender, u.enabled = coalesce($enabled, u.enabled)
RETURN u.username AS username;

// name: account_get
MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:HAS_RESET]->(r:ResetLink)
  WHERE r.used_at IS NULL AND r.expires_at > datetime()
WITH u, max(r.expires_at) AS reset_until
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       coalesce(u.enabled, false) AS enabled, u.password_hash IS NOT NULL AS has_password,
       coalesce(u.totp_enabled, false) AS totp_enabled, u.last_login_at AS last_login_at,
       reset_until, u.org AS org;

// name: districts_known
// The districts of this network: of its households or its accounts.
CALL () {
  MATCH (h:Household) WHERE h.district IS NOT NULL
  RETURN DISTINCT h.district AS district
  UNION
  MATCH (u:User) UNWIND coalesce(u.districts, []) AS district
  RETURN DISTINCT district
}
RETURN district ORDER BY district;

// name: districts_check
// Which of $districts are districts of this network (of its households or accounts).
UNWIND $districts AS d
WITH d WHERE EXISTS { MATCH (:Household {district: d}) } OR EXISTS { MATCH (u:User) WHERE d IN u.districts }
RETURN collect(d) AS known;

// name: team_list
// Accounts of roles $roles that have a district among $districts (null: every account of
// those roles), with their open reset link's expiry.
MATCH (u:User)
WHERE u.role IN $roles AND ($districts IS NULL OR any(d IN coalesce(u.districts, []) WHERE d IN $districts))
OPTIONAL MATCH (u)-[:HAS_RESET]->(r:ResetLink)
  WHERE r.used_at IS NULL AND r.expires_at > datetime()
WITH u, max(r.expires_at) AS reset_until
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       coalesce(u.enabled, false) AS enabled, u.password_hash IS NOT NULL AS has_password,
       u.last_login_at AS last_login_at, reset_until
ORDER BY username;

// name: reset_create
// A new reset link for the user; the links given before it stop working (only the newest
// one counts), and spent links of anyone older than a week are deleted (a bounded batch).
MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:HAS_RESET]->(old:ResetLink)
WITH u, collect(old) AS olds
FOREACH (o IN olds | DETACH DELETE o)
CREATE (r:ResetLink {hash: $hash, created_at: datetime(), created_by: $created_by,
                     expires_at: datetime() + duration({seconds: $seconds})})
CREATE (u)-[:HAS_RESET]->(r)
WITH r
CALL () {
  MATCH (spent:ResetLink) WHERE spent.expires_at < datetime() - duration({days: 7})
  WITH spent LIMIT 100
  DETACH DELETE spent
}
RETURN r.expires_at AS expires_at;

// name: reset_get
// What a reset link is now: its user, and whether it was used or has expired (enabled: not
// disabled; an account an import made, never enabled, gets its first password this way).
MATCH (u:User)-[:HAS_RESET]->(r:ResetLink {hash: $hash})
RETURN u.username AS username, u.role AS role, coalesce(u.enabled, true) AS enabled,
       r.used_at IS NOT NULL AS used, r.expires_at <= datetime() AS expired, r.expires_at AS expires_at;

// name: reset_use
// Spend a reset link: only an unused, unexpired link of an account that is not disabled (one
// an import made has never been enabled: its first password enables it), once (the write
// on the link makes a second use of it at the same moment wait, then find it used).
MATCH (u:User)-[:HAS_RESET]->(r:ResetLink {hash: $hash})
SET r.touched = coalesce(r.touched, 0) + 1
WITH u, r
WHERE r.used_at IS NULL AND r.expires_at > datetime() AND coalesce(u.enabled, true)
SET r.used_at = datetime()
RETURN u.username AS username, u.role AS role;

// name: reset_revoke_all
MATCH (:User {username: $username})-[:HAS_RESET]->(r:ResetLink)
WHERE r.used_at IS NULL
DETACH DELETE r
RETURN count(*) AS revoked;
