// The benchmark of visit reports (bench/report.py). Loaded only by the benchmarks and the
// tests (bench/cypher_extra.py); no application code runs them.

// name: bench_report_visitors
// Visitors (women: every household is theirs to visit) and, for each, active households
// of their districts that nobody holds, each with one of its people.
MATCH (u:User {role: 'visitor'})
WHERE u.gender = 'f' AND size(coalesce(u.districts, [])) > 0
WITH u ORDER BY u.username LIMIT $visitors
CALL (u) {
  MATCH (h:Household)<-[:MEMBER_OF]-(p:Person)
  WHERE h.district IN u.districts AND h.status = 'active'
    AND NOT EXISTS { (h)<-[:ON]-(c:Claim) WHERE c.ended_at IS NULL AND c.expires_at > $now }
  WITH h, min(p.id) AS person
  ORDER BY h.id
  LIMIT $households
  RETURN collect([h.id, person, h.district]) AS households
}
RETURN u.username AS username, u.districts AS districts, households;

// name: bench_report_ensure_women
// Enough women visitors for the run (the demo draws genders at random).
MATCH (u:User {role: 'visitor'})
WITH u ORDER BY u.username LIMIT $visitors
SET u.gender = 'f'
RETURN count(u) AS visitors;

// name: bench_report_cleanup
// What the run wrote: its visits, the households they brought in (with their people).
MATCH (v:Visit)
WHERE v.reported_at >= $since AND v.id IN $visits
OPTIONAL MATCH (v)-[:BROUGHT]->(h:Household)
OPTIONAL MATCH (h)<-[:MEMBER_OF]-(q:Person)
DETACH DELETE v, h, q
RETURN count(DISTINCT v) AS visits;
