// The coordinator's household desk (graphsvc/desk.py): what the write service of
// graphsvc/households.py does not already have. Policy is not decided here.

// name: desk_district_known
// Whether $district is a district of this network (of its households or its accounts).
RETURN EXISTS { MATCH (:Household {district: $district}) }
    OR EXISTS { MATCH (u:User) WHERE $district IN u.districts } AS known;

// name: desk_districts
// Every district of this network (of its households or its accounts): where a household
// may be transferred.
CALL () {
  MATCH (h:Household) RETURN DISTINCT h.district AS district
  UNION
  MATCH (u:User) UNWIND coalesce(u.districts, []) AS district RETURN DISTINCT district
}
WITH district WHERE district IS NOT NULL AND district <> ''
RETURN district ORDER BY district;

// name: desk_household_ref
// A household by id or code (a move's destination as typed): its id, or nothing.
MATCH (h:Household)
WHERE h.id = $ref OR h.code = $ref OR h.code = toUpper($ref)
RETURN h.id AS id
ORDER BY h.id LIMIT 1;

// name: desk_members
// The people of a household with their introducer (the desk's introducer forms): each
// person's id and code name, the introducer's id, code name, household district and
// women-only flag (whether the caller may be told of them is decided by the caller), the
// introduction's date and relation.
MATCH (h:Household {id: $id})<-[:MEMBER_OF]-(p:Person)
OPTIONAL MATCH (i:Person)-[r:INTRODUCED]->(p)
OPTIONAL MATCH (i)-[:MEMBER_OF]->(ih:Household)
RETURN p.id AS id, p.code_name AS code_name, i.id AS introducer_id, i.code_name AS introducer_code_name,
       ih.district AS introducer_district, coalesce(ih.women_only, false) AS introducer_women_only,
       r.on AS introduced_on, r.relation AS relation
ORDER BY p.id;

// name: desk_people
// People by id, with their household's district (whether a caller may be told of them).
UNWIND $ids AS pid
MATCH (p:Person {id: pid})
OPTIONAL MATCH (p)-[:MEMBER_OF]->(h:Household)
RETURN p.id AS id, p.code_name AS code_name, h.district AS district, coalesce(h.women_only, false) AS women_only;
