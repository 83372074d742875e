// The benchmark of an account's exposure (bench/exposure.py). Loaded only by the
// benchmarks and the tests (bench/cypher_extra.py); no application code runs them.

// name: bench_exposure_account
// The lost phone's account (a visitor of the demo's first district), made for the run.
MERGE (u:User {username: $username})
SET u.role = 'visitor', u.districts = [$district], u.enabled = true
RETURN u.username AS username;

// name: bench_exposure_households
// Households of the district with their people, to be "shown" to the account.
MATCH (h:Household {district: $district})<-[:MEMBER_OF]-(p:Person)
WITH h, collect(p.id) AS people
ORDER BY h.id
LIMIT $n
RETURN collect([h.id, people]) AS households;

// name: bench_exposure_first_district
MATCH (h:Household)
WITH h.district AS district, count(*) AS n
ORDER BY n DESC, district
LIMIT 1
RETURN district, n;

// name: bench_exposure_naive_targets
// The naive baseline: one event's targets looked up one event at a time, with their
// neighbours (introducer, introduced, household).
UNWIND $ids AS id
OPTIONAL MATCH (h:Household {id: id})
OPTIONAL MATCH (p:Person {id: id})
OPTIONAL MATCH (p)-[:MEMBER_OF]->(ph:Household)
OPTIONAL MATCH (p)-[:INTRODUCED]-(o:Person)
OPTIONAL MATCH (ph)<-[:MEMBER_OF]-(m:Person)
OPTIONAL MATCH (h)<-[:MEMBER_OF]-(hm:Person)
RETURN id, h.code AS code, h.district AS district, p.code_name AS code_name, ph.id AS household,
       collect(DISTINCT o.id) AS linked, collect(DISTINCT m.id) AS housemates, collect(DISTINCT hm.id) AS members;
