// Emergency controls (issue 15 §3, graphsvc/freeze.py): freezing an account, and the
// sessions of an account as their user (or an admin) sees and ends them.

// name: freeze_lock_user
// First statement of a freeze or an unfreeze: writing the user takes its write lock (a
// sign-in, a claim or a second freeze of the same account queue behind it); then its state.
MATCH (u:User {username: $username})
SET u.freeze_seq = coalesce(u.freeze_seq, 0) + 1
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts,
       coalesce(u.frozen, false) AS frozen;

// name: user_freeze
// The account is frozen: sessions end (deleted: every process validates a session by
// reading it, so none lets it in again), tokens are revoked, and sign-in is refused
// (accounts.authenticate) until user_unfreeze.
MATCH (u:User {username: $username})
SET u.frozen = true, u.frozen_at = datetime(), u.frozen_by = $by, u.frozen_reason = $reason
WITH u
CALL (u) {
  OPTIONAL MATCH (u)-[:HAS_SESSION]->(s:Session)
  WITH s WHERE s IS NOT NULL
  DETACH DELETE s
  RETURN count(*) AS sessions
}
CALL (u) {
  OPTIONAL MATCH (u)-[:HAS_TOKEN]->(t:Token)
  WITH t WHERE t IS NOT NULL AND t.revoked_at IS NULL
  SET t.revoked_at = datetime()
  RETURN count(*) AS tokens
}
RETURN sessions, tokens;

// name: freeze_release_claims
// The frozen account's live claims and assignments end (ended_by 'freeze'): each household
// goes back to the pool. Each household is written first (claim_seq, as claim_lock in
// visits.cypher), so that a claim of it in flight queues behind this.
MATCH (h:Household)<-[:ON]-(c:Claim {username: $username})
WHERE c.ended_at IS NULL AND c.expires_at > $now
SET h.claim_seq = coalesce(h.claim_seq, 0) + 1, c.ended_at = $now, c.ended_by = 'freeze'
RETURN h.id AS household_id, c.id AS claim_id
ORDER BY household_id;

// name: user_unfreeze
MATCH (u:User {username: $username})
SET u.frozen = false, u.unfrozen_at = datetime(), u.unfrozen_by = $by
REMOVE u.frozen_reason
RETURN u.username AS username;

// name: user_sessions
// The live sessions of an account (not idle, not past their lifetime), newest first.
MATCH (:User {username: $username})-[:HAS_SESSION]->(s:Session)
WHERE s.last_seen_at > datetime() - duration({seconds: $idle_seconds})
  AND coalesce(s.expires_at, s.created_at + duration({hours: 12})) > datetime()
RETURN s.id_hash AS id_hash, s.ip AS ip, s.user_agent AS user_agent, s.created_at AS created_at,
       s.last_seen_at AS last_seen_at, coalesce(s.second_factor, false) AS second_factor
ORDER BY s.last_seen_at DESC
LIMIT 200;

// name: user_sessions_end
// End the account's sessions whose id hashes are in $id_hashes (only its own: a hash of
// another account's session ends nothing); how many ended.
MATCH (:User {username: $username})-[:HAS_SESSION]->(s:Session)
WHERE s.id_hash IN $id_hashes
DETACH DELETE s
RETURN count(*) AS ended;
