// One household as the views show it (graphsvc/households.py). Policy is not decided
// here: the core asks graphsvc.access with the facts these return.

// name: household_facts
// What the policy needs to know of a household for staff: one row whether it exists or
// not (exists false), so that a missing id and one outside the caller's reach cost the same.
OPTIONAL MATCH (h:Household {id: $household_id})
RETURN h IS NOT NULL AS exists, h.id AS id, h.district AS district,
       coalesce(h.women_only, false) AS women_only, false AS claimed_by_subject,
       false AS candidate, false AS suggested_and_open, false AS visited_by_subject;

// name: household_view
MATCH (h:Household {id: $id})
OPTIONAL MATCH (p:Person)-[:MEMBER_OF]->(h)
OPTIONAL MATCH (i:Person)-[r:INTRODUCED]->(p)
OPTIONAL MATCH (i)-[:MEMBER_OF]->(ih:Household)
WITH h, p, i, r, ih ORDER BY p.id
WITH h, [x IN collect(CASE WHEN p IS NULL THEN NULL ELSE {
          id: p.id, code_name: p.code_name, legal_name: p.legal_name, phone: p.phone,
          address: p.address, introducer_id: i.id, introducer_code_name: i.code_name,
          introducer_district: ih.district, introducer_women_only: coalesce(ih.women_only, false),
          introduced_on: r.on, relation: r.relation} END) WHERE x IS NOT NULL] AS members
OPTIONAL MATCH (v:Visit)-[:AT]->(h)
OPTIONAL MATCH (u:User)-[:MADE]->(v)
WITH h, members, v, u ORDER BY v.on DESC, v.id DESC
WITH h, members, [x IN collect(CASE WHEN v IS NULL THEN NULL ELSE {
          id: v.id, on: v.on, outcome: v.outcome, materials: v.materials, notes: v.notes,
          visitor: u.username} END) WHERE x IS NOT NULL] AS visits
RETURN h.id AS id, h.code AS code, h.district AS district, h.arrived_on AS arrived_on,
       h.status AS status, members, visits,
       any(x IN visits WHERE x.visitor = $username) AS visited_by_subject;
