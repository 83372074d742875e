// The statements of bench/dedupe.py (duplicate scoring on a 100,000-household district).

// name: bench_dedupe_district_sizes
MATCH (h:Household)
RETURN h.district AS district, count(*) AS households
ORDER BY households DESC;

// name: bench_dedupe_set_districts
// class: batch
// The first $small households (by id) into $small_district, all the others into $big_district.
MATCH (h:Household)
WITH h ORDER BY h.id
WITH collect(h) AS all
UNWIND range(0, size(all) - 1) AS i
WITH all[i] AS h, CASE WHEN i < $small THEN $small_district ELSE $big_district END AS district
WHERE h.district <> district
SET h.district = district
RETURN count(*) AS moved;

// name: bench_dedupe_sample
// $n people of $district with identity (tokens), their household, and another person of
// the district to be the introducer; deterministic (ordered by a hash of the id).
MATCH (h:Household {district: $district})<-[:MEMBER_OF]-(p:Person)
WHERE p.legal_name IS NOT NULL AND h.status <> 'pending'
WITH p, h ORDER BY toString(size(p.id) * 7919) + reverse(p.id)
LIMIT $n
RETURN p.id AS id, p.code_name AS code_name, p.legal_name AS legal_name, p.phone AS phone,
       p.address AS address, h.id AS household_id;

// name: bench_dedupe_naive_read
// class: heavy
// The naive scan: every identity token of the district's people (to decrypt them all).
MATCH (h:Household {district: $district})<-[:MEMBER_OF]-(p:Person)
WHERE h.id <> $household_id AND h.status <> 'rejected'
RETURN p.id AS id, h.id AS household_id, p.legal_name AS legal_name, p.phone AS phone, p.address AS address;

// name: bench_dedupe_cleanup
// class: batch
// The pending households this run made, and their people.
MATCH (h:Household) WHERE h.id IN $ids
OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
DETACH DELETE p, h
RETURN count(*) AS deleted;
