// Accounts, sessions, access tokens and login throttling. Secrets are stored hashed
// (passwords: argon2id; session ids and tokens: SHA-256 of 256-bit random values).
// Throttle keys (graphsvc/accounts.py): 'ip:<address or IPv6 /64>', 'user:<sha256 of a typed
// username>' (clients without a device cookie for it), 'dev:<sha256 of a device id>'.

// name: user_create
// Creates the account; with $adopt, fills in one that an import created without
// credentials. An existing account is never changed here (nothing is returned): changes go
// through cypher/team.cypher, named field by field in the audit.
MERGE (u:User {username: $username})
ON CREATE SET u.created_at = datetime(), u.just_created = true
WITH u, coalesce(u.just_created, false) AS fresh
REMOVE u.just_created
WITH u, fresh
WHERE u.password_hash IS NULL AND (fresh OR $adopt)
SET u.role = $role, u.districts = $districts, u.password_hash = $password_hash,
    u.gender = coalesce($gender, u.gender), u.enabled = true, u.created_at = coalesce(u.created_at, datetime()),
    u.org = $org
RETURN u.username AS username;

// name: user_get
MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:IS]->(p:Person)
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       u.password_hash AS password_hash, coalesce(u.enabled, false) AS enabled,
       u.totp_secret AS totp_secret, coalesce(u.totp_enabled, false) AS totp_enabled,
       u.code_locked_until AS code_locked_until, coalesce(u.code_failures, 0) AS code_failures,
       u.totp_last_step AS totp_last_step, p.id AS person_id,
       u.duress_hash AS duress_hash, coalesce(u.frozen, false) AS frozen, u.org AS org;

// name: user_list
MATCH (u:User)
OPTIONAL MATCH (u)-[:HAS_TOKEN]->(t:Token)
  WHERE t.revoked_at IS NULL AND t.expires_at > datetime()
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       coalesce(u.enabled, false) AS enabled, u.password_hash IS NOT NULL AS has_password,
       coalesce(u.totp_enabled, false) AS totp_enabled, u.last_login_at AS last_login_at,
       count(t) AS live_tokens,
       coalesce(u.identity_frozen, false) AS identity_frozen, coalesce(u.frozen, false) AS frozen,
       u.org AS org
ORDER BY username;

// name: user_set_enabled
MATCH (u:User {username: $username})
SET u.enabled = $enabled
RETURN u.username AS username;

// name: user_set_password
// An account that an import made (enabled never set) is enabled by its first password; one
// that was disabled stays disabled.
MATCH (u:User {username: $username})
SET u.password_hash = $password_hash, u.enabled = coalesce(u.enabled, true)
RETURN u.username AS username;

// name: user_set_totp
MATCH (u:User {username: $username})
SET u.totp_secret = $totp_secret, u.totp_enabled = $totp_enabled
RETURN u.username AS username;

// name: user_clear_code_lock
// An admin's reset of the codes also lifts the lock of code attempts (the user enrols anew).
MATCH (u:User {username: $username})
SET u.code_failures = 0, u.code_locked_until = null
RETURN u.username AS username;

// name: user_login_succeeded
MATCH (u:User {username: $username})
SET u.last_login_at = datetime()
RETURN u.username AS username;

// --- second factor -----------------------------------------------------------------------

// name: code_state
// What decides, before any code is checked, whether a code may be tried at all: the
// account's lock of code attempts and the session (of this user) with its attempts so far.
// A read: a refused attempt writes nothing.
MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:HAS_SESSION]->(s:Session {id_hash: $id_hash})
RETURN CASE WHEN u.code_locked_until > datetime()
            THEN duration.inSeconds(datetime(), u.code_locked_until).seconds + 1 ELSE 0 END AS locked_seconds,
       s IS NOT NULL AS has_session;

// name: code_lock_user
// First statement of a code check: writing the user takes its write lock, so that two
// checks of one account (one code sent twice at once) queue here until the first commits
// (as claim_lock in visits.cypher). The state is read afterwards, by code_check_state.
MATCH (u:User {username: $username})
SET u.code_seq = coalesce(u.code_seq, 0) + 1
RETURN u.code_seq AS code_seq;

// name: code_check_state
// Read under the user's lock: the secret, the last time step accepted, the lock, the session.
MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:HAS_SESSION]->(s:Session {id_hash: $id_hash})
  WHERE coalesce(s.expires_at, s.created_at + duration({hours: 12})) > datetime()
RETURN u.totp_secret AS totp_secret, coalesce(u.totp_enabled, false) AS totp_enabled,
       u.totp_last_step AS totp_last_step, coalesce(u.enabled, false) AS enabled,
       CASE WHEN u.code_locked_until > datetime()
            THEN duration.inSeconds(datetime(), u.code_locked_until).seconds + 1 ELSE 0 END AS locked_seconds,
       s IS NOT NULL AS has_session, coalesce(s.second_factor, false) AS second_factor,
       coalesce(s.code_failures, 0) AS session_code_failures;

// name: code_accepted
// A right code: its time step is used up for this account (never accepted again), the
// account's code failures are forgotten, the session has its second factor.
MATCH (u:User {username: $username})-[:HAS_SESSION]->(s:Session {id_hash: $id_hash})
SET u.totp_last_step = $step, u.code_failures = 0, u.code_locked_until = null,
    u.totp_enabled = true, s.second_factor = true, s.code_failures = 0
RETURN u.username AS username;

// name: code_failed
// A wrong (or used) code: counted for the account (from $max_failures on, code attempts are
// locked for $lock_seconds, doubled per further failure up to $max_lock_seconds) and for the
// session, which ends after $session_attempts failures.
MATCH (u:User {username: $username})
SET u.code_failures = coalesce(u.code_failures, 0) + 1
WITH u, $lock_seconds * 2 ^ (CASE WHEN u.code_failures - $max_failures > 16 THEN 16
                                  ELSE u.code_failures - $max_failures END) AS progressive
SET u.code_locked_until = CASE WHEN u.code_failures < $max_failures THEN u.code_locked_until
    ELSE datetime() + duration({seconds: toInteger(CASE WHEN progressive > $max_lock_seconds
                                                        THEN $max_lock_seconds ELSE progressive END)}) END
WITH u
OPTIONAL MATCH (u)-[:HAS_SESSION]->(s:Session {id_hash: $id_hash})
SET s.code_failures = coalesce(s.code_failures, 0) + 1
WITH u, s, s IS NOT NULL AND s.code_failures >= $session_attempts AND NOT coalesce(s.second_factor, false) AS ends
CALL (s, ends) { WITH s, ends WHERE ends DETACH DELETE s }
RETURN u.code_failures AS code_failures, ends AS session_ended,
       CASE WHEN u.code_locked_until > datetime()
            THEN duration.inSeconds(datetime(), u.code_locked_until).seconds + 1 ELSE 0 END AS locked_seconds;

// --- throttles of the password step ----------------------------------------------------------

// name: throttle_state
// The running locks among $keys, with the seconds left. A read: a refused attempt writes nothing.
MATCH (t:Throttle)
WHERE t.key IN $keys AND t.locked_until > datetime()
RETURN t.key AS key, duration.inSeconds(datetime(), t.locked_until).seconds + 1 AS seconds;

// name: throttle_hit
// One checked failure of a source ($key). The count starts again after a quiet spell of
// $window_seconds (no failure and no lock running). From $max_failures on, each failure
// locks the source for $lock_seconds, doubled per further failure up to $max_lock_seconds
// (progressive delay). expires_at: from then on the record says nothing (throttle_purge).
MERGE (t:Throttle {key: $key})
ON CREATE SET t.failures = 0
WITH t, datetime() AS now
WITH t, now, t.quiet_from IS NULL OR t.quiet_from < now - duration({seconds: $window_seconds}) AS fresh
SET t.failures = CASE WHEN fresh THEN 1 ELSE t.failures + 1 END, t.last_failure_at = now
WITH t, now, $lock_seconds * 2 ^ (CASE WHEN t.failures - $max_failures > 16 THEN 16
                                       ELSE t.failures - $max_failures END) AS progressive
SET t.locked_until = CASE WHEN t.failures < $max_failures THEN t.locked_until
    ELSE now + duration({seconds: toInteger(CASE WHEN progressive > $max_lock_seconds
                                                 THEN $max_lock_seconds ELSE progressive END)}) END
SET t.quiet_from = CASE WHEN t.locked_until > now THEN t.locked_until ELSE now END
SET t.expires_at = t.quiet_from + duration({seconds: $window_seconds})
RETURN t.failures AS failures, t.locked_until AS locked_until;

// name: throttle_clear
MATCH (t:Throttle {key: $key})
DELETE t;

// name: throttle_purge
// Records that say nothing any more, a bounded batch at a time (run with each checked failure).
MATCH (t:Throttle)
WHERE t.expires_at < datetime()
WITH t LIMIT $limit
DELETE t
RETURN count(*) AS purged;

// --- sessions --------------------------------------------------------------------------

// name: session_create
// expires_at: the absolute end of the session, however active it is (GRAPHSVC_SESSION_MAX_HOURS).
MATCH (u:User {username: $username})
CREATE (s:Session {id_hash: $id_hash, created_at: datetime(), last_seen_at: datetime(),
                   expires_at: datetime() + duration({seconds: $max_seconds}),
                   ip: $ip, user_agent: $user_agent, second_factor: $second_factor})
SET s.duress = CASE WHEN $duress THEN true ELSE null END
CREATE (u)-[:HAS_SESSION]->(s)
RETURN s.id_hash AS id_hash;

// name: session_get
// The live session with its user; idle or expired sessions and disabled users answer nothing.
// (Sessions made before expires_at existed end 12 hours after they began.)
MATCH (u:User)-[:HAS_SESSION]->(s:Session {id_hash: $id_hash})
WHERE s.last_seen_at > datetime() - duration({seconds: $idle_seconds})
  AND coalesce(s.expires_at, s.created_at + duration({hours: 12})) > datetime()
  AND coalesce(u.enabled, false)
  AND NOT coalesce(u.frozen, false)
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       s.second_factor AS second_factor, s.last_seen_at AS last_seen_at,
       coalesce(u.totp_enabled, false) AS totp_enabled,
       coalesce(s.duress, false) AS duress, coalesce(u.identity_frozen, false) AS identity_frozen, u.org AS org;

// name: session_touch
MATCH (s:Session {id_hash: $id_hash})
SET s.last_seen_at = datetime();

// name: session_set_second_factor
MATCH (s:Session {id_hash: $id_hash})
SET s.second_factor = true;

// name: session_end
MATCH (s:Session {id_hash: $id_hash})
DETACH DELETE s;

// name: session_end_all
MATCH (:User {username: $username})-[:HAS_SESSION]->(s:Session)
DETACH DELETE s;

// name: session_purge
// Idle or expired sessions, a bounded batch at a time (run at each sign-in).
MATCH (s:Session)
WHERE s.last_seen_at < datetime() - duration({seconds: $idle_seconds}) OR s.expires_at < datetime()
WITH s LIMIT $limit
DETACH DELETE s;

// --- personal access tokens ------------------------------------------------------------

// name: token_create
MATCH (u:User {username: $username})
CREATE (t:Token {hash: $hash, prefix: $prefix, created_at: datetime(),
                 expires_at: datetime() + duration({days: $days})})
CREATE (u)-[:HAS_TOKEN]->(t)
RETURN t.expires_at AS expires_at;

// name: token_user
MATCH (u:User)-[:HAS_TOKEN]->(t:Token {hash: $hash})
WHERE t.revoked_at IS NULL AND t.expires_at > datetime() AND coalesce(u.enabled, false)
  AND NOT coalesce(u.frozen, false)
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       t.prefix AS prefix, t.expires_at AS expires_at,
       coalesce(u.identity_frozen, false) AS identity_frozen, u.org AS org;

// name: token_revoke_all
MATCH (:User {username: $username})-[:HAS_TOKEN]->(t:Token)
WHERE t.revoked_at IS NULL
SET t.revoked_at = datetime()
RETURN count(t) AS revoked;
