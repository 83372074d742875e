// Idempotency keys (graphsvc/idempotency.py): a key exists iff the first write of its
// request committed; its answer is stored after the view returned.

// name: idempotency_find
// The live key of an owner (an expired one is forgotten).
MATCH (k:IdempotencyKey {owner: $owner, key: $key})
WHERE k.expires_at > $now
RETURN k.id AS id, k.fingerprint AS fingerprint, k.created_at AS created_at,
       k.status AS status, k.content_type AS content_type, k.location AS location, k.body AS body,
       coalesce(k.lost, false) AS lost;

// name: idempotency_create
// In the same transaction as the request's first write, before it: an expired key of the
// same name is dropped first (it is forgotten), then the key is created; a key being
// created by another transaction makes this one wait, then fail on the constraint.
OPTIONAL MATCH (old:IdempotencyKey {owner: $owner, key: $key})
WHERE old.expires_at <= $now
DELETE old
WITH count(*) AS dropped
CREATE (k:IdempotencyKey {id: $id, owner: $owner, key: $key, fingerprint: $fingerprint,
                          method: $method, path: $path, created_at: $now, expires_at: $expires_at})
RETURN k.id AS id;

// name: idempotency_answer
// The first answer, to be replayed (the body encrypted: it may show identity fields).
MATCH (k:IdempotencyKey {id: $id})
SET k.status = $status, k.content_type = $content_type, k.location = $location, k.body = $body,
    k.answered_at = $now;

// name: idempotency_lost
// The request failed after its write may have committed: its answer will never come (a
// retry is told at once that it was carried out). No key (the commit did not happen): nothing.
MATCH (k:IdempotencyKey {owner: $owner, key: $key})
WHERE k.status IS NULL
SET k.lost = true;

// name: idempotency_purge
// Forget keys past their expiry, a bounded number at a time (after each stored answer).
MATCH (k:IdempotencyKey)
WHERE k.expires_at <= $now
WITH k LIMIT $limit
DELETE k;
