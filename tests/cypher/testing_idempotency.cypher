// Statements of tests/test_idempotency.py only.

// default class: batch
// (tests only)

// name: test_count_visits
MATCH (v:Visit) RETURN count(v) AS n;

// name: test_idempotency_keys
MATCH (k:IdempotencyKey)
RETURN k.owner AS owner, k.key AS key, k.status AS status, k.body AS body, k.lost AS lost
ORDER BY k.created_at;

// name: test_idempotency_age
// Make a key older: its expiry and creation moved back by $seconds.
MATCH (k:IdempotencyKey {owner: $owner, key: $key})
SET k.expires_at = k.expires_at - duration({seconds: $seconds}),
    k.created_at = k.created_at - duration({seconds: $seconds});

// name: test_idempotency_drop_answer
// As if the first answer was never stored (the process died after the commit).
MATCH (k:IdempotencyKey {owner: $owner, key: $key})
REMOVE k.status, k.body, k.content_type, k.location, k.lost;

// name: test_claim_seq
MATCH (h:Household {id: $household_id}) RETURN coalesce(h.claim_seq, 0) AS seq;
