// The duress sign-in (graphsvc/duress.py): a second password of an account, stored as an
// argon2id hash like the password (u.duress_hash); signing in with it opens an empty session
// (s.duress) and freezes the account's identity and contact reveals (u.identity_frozen)
// until an admin lifts it.

// name: duress_state
MATCH (u:User {username: $username})
RETURN u.password_hash AS password_hash, u.duress_hash AS duress_hash,
       coalesce(u.identity_frozen, false) AS identity_frozen, u.identity_frozen_at AS identity_frozen_at;

// name: duress_set_hash
// A new duress password ($hash), or none ($hash null).
MATCH (u:User {username: $username})
SET u.duress_hash = $hash
RETURN u.username AS username;

// name: duress_freeze
// The duress password was used: identity and contact reveals of the account stop, in every
// session and token (read at each request: session_get, token_user).
MATCH (u:User {username: $username})
SET u.identity_frozen = true, u.identity_frozen_at = datetime()
RETURN u.username AS username;

// name: duress_lift
// An admin lifts the freeze; whether there was one.
MATCH (u:User {username: $username})
WITH u, coalesce(u.identity_frozen, false) AS was
SET u.identity_frozen = null, u.identity_frozen_at = null
RETURN was;
