// Accounts, sessions, access tokens and login throttling. Secrets are stored hashed
// (passwords: argon2id; session ids and tokens: SHA-256 of 256-bit random values).

// name: user_create
// Creates the account, or fills in one that an import created without credentials.
MERGE (u:User {username: $username})
ON CREATE SET u.created_at = datetime()
WITH u
WHERE u.password_hash IS NULL
SET u.role = $role, u.districts = $districts, u.password_hash = $password_hash,
    u.gender = coalesce($gender, u.gender), u.enabled = true, u.failed_logins = 0, u.created_at = coalesce(u.created_at, datetime())
RETURN u.username AS username;

// name: user_get
MATCH (u:User {username: $username})
OPTIONAL MATCH (u)-[:IS]->(p:Person)
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       u.password_hash AS password_hash, coalesce(u.enabled, false) AS enabled,
       u.totp_secret AS totp_secret, coalesce(u.totp_enabled, false) AS totp_enabled,
       u.locked_until AS locked_until, coalesce(u.failed_logins, 0) AS failed_logins,
       p.id AS person_id;

// name: user_list
MATCH (u:User)
OPTIONAL MATCH (u)-[:HAS_TOKEN]->(t:Token)
  WHERE t.revoked_at IS NULL AND t.expires_at > datetime()
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       coalesce(u.enabled, false) AS enabled, u.password_hash IS NOT NULL AS has_password,
       coalesce(u.totp_enabled, false) AS totp_enabled, u.last_login_at AS last_login_at,
       count(t) AS live_tokens
ORDER BY username;

// name: user_set_enabled
MATCH (u:User {username: $username})
SET u.enabled = $enabled
RETURN u.username AS username;

// name: user_set_password
MATCH (u:User {username: $username})
SET u.password_hash = $password_hash, u.failed_logins = 0, u.locked_until = null
RETURN u.username AS username;

// name: user_set_totp
MATCH (u:User {username: $username})
SET u.totp_secret = $totp_secret, u.totp_enabled = $totp_enabled
RETURN u.username AS username;

// name: user_login_failed
// Counts a failed password; locks the account for $lock_seconds after $max_failures.
MATCH (u:User {username: $username})
SET u.failed_logins = coalesce(u.failed_logins, 0) + 1
SET u.locked_until = CASE WHEN u.failed_logins >= $max_failures
                          THEN datetime() + duration({seconds: $lock_seconds})
                          ELSE u.locked_until END
RETURN u.failed_logins AS failed_logins, u.locked_until AS locked_until;

// name: user_login_succeeded
MATCH (u:User {username: $username})
SET u.failed_logins = 0, u.locked_until = null, u.last_login_at = datetime()
RETURN u.username AS username;

// name: throttle_hit
// One failure from a source (an ip): a sliding window of $window_seconds; locked when
// the count reaches $max_failures.
MERGE (t:Throttle {key: $key})
ON CREATE SET t.window_start = datetime(), t.failures = 0
WITH t
SET t.failures = CASE WHEN t.window_start < datetime() - duration({seconds: $window_seconds})
                      THEN 1 ELSE t.failures + 1 END,
    t.window_start = CASE WHEN t.window_start < datetime() - duration({seconds: $window_seconds})
                          THEN datetime() ELSE t.window_start END
SET t.locked_until = CASE WHEN t.failures >= $max_failures
                          THEN datetime() + duration({seconds: $window_seconds})
                          ELSE t.locked_until END
RETURN t.failures AS failures, t.locked_until AS locked_until;

// name: throttle_get
MATCH (t:Throttle {key: $key})
RETURN t.locked_until AS locked_until;

// --- sessions --------------------------------------------------------------------------

// name: session_create
MATCH (u:User {username: $username})
CREATE (s:Session {id_hash: $id_hash, created_at: datetime(), last_seen_at: datetime(),
                   ip: $ip, user_agent: $user_agent, second_factor: $second_factor})
CREATE (u)-[:HAS_SESSION]->(s)
RETURN s.id_hash AS id_hash;

// name: session_get
// The live session with its user; idle sessions and disabled users answer nothing.
MATCH (u:User)-[:HAS_SESSION]->(s:Session {id_hash: $id_hash})
WHERE s.last_seen_at > datetime() - duration({seconds: $idle_seconds})
  AND coalesce(u.enabled, false)
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       s.second_factor AS second_factor, s.last_seen_at AS last_seen_at,
       coalesce(u.totp_enabled, false) AS totp_enabled;

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

// name: session_purge_idle
MATCH (s:Session)
WHERE s.last_seen_at < datetime() - duration({seconds: $idle_seconds})
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
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts, u.gender AS gender,
       t.prefix AS prefix, t.expires_at AS expires_at;

// name: token_revoke_all
MATCH (:User {username: $username})-[:HAS_TOKEN]->(t:Token)
WHERE t.revoked_at IS NULL
SET t.revoked_at = datetime()
RETURN count(t) AS revoked;
