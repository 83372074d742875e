// The intake's tests (tests/test_intake.py).

// name: test_intake_household
MATCH (h:Household {id: $id})
RETURN h.status AS status, h.code AS code, h.provisional_code AS provisional_code, h.parent AS parent,
       h.unvisited_since AS unvisited_since, h.merged_into AS merged_into, h.rejected_reason AS rejected_reason,
       COUNT { (h)<-[:MEMBER_OF]-() } AS members;

// name: test_intake_state
// The households, memberships, introductions and BROUGHT edges: "nothing changed" for the
// API's refusals (a token's use changes the token's node, not these).
CALL () {
  MATCH (h:Household)
  WITH h ORDER BY h.id
  RETURN collect(properties(h)) AS households
}
CALL () {
  MATCH (p:Person)-[:MEMBER_OF]->(h:Household)
  WITH p, h ORDER BY p.id
  RETURN collect([p.id, h.id]) AS members
}
CALL () {
  MATCH (v:Visit)-[b:BROUGHT]->(h:Household)
  WITH v, b, h ORDER BY v.id, h.id
  RETURN collect([v.id, h.id, properties(b)]) AS brought
}
RETURN households, members, brought;
