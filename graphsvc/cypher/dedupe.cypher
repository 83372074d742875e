// Duplicate scoring (graphsvc/dedupe.py): which households of the same district match the
// people of one household, on blind indexes (never decrypted) and on the graph around it.
// Every branch starts from the scored household's people and seeks an index or follows
// edges: the district's size does not enter the cost.

// default class: light

// name: dedupe_matches
// One row per (scored person, matching person, reason). Candidates: households of the
// scored one's district, not itself, not rejected (pending ones count).
MATCH (h:Household {id: $household_id})<-[:MEMBER_OF]-(p:Person)
CALL (h, p) {
  MATCH (o:Person {phone_bi: p.phone_bi})
  RETURN o, 'phone' AS kind
  UNION
  MATCH (o:Person {name_bi: p.name_bi})
  RETURN o, 'name' AS kind
  UNION
  MATCH (o:Person {name_rev_bi: p.name_bi})
  RETURN o, 'name' AS kind
  UNION
  MATCH (o:Person {name_bi: p.name_rev_bi})
  RETURN o, 'name' AS kind
  UNION
  MATCH (o:Person {address_bi: p.address_bi})
  RETURN o, 'address' AS kind
  UNION
  // introduced by the same person
  MATCH (p)<-[:INTRODUCED]-(:Person)-[:INTRODUCED]->(o:Person)
  RETURN o, 'same_introducer' AS kind
  UNION
  // the introducer's own household (o: the introducer)
  MATCH (p)<-[:INTRODUCED]-(o:Person)
  RETURN o, 'introducer_household' AS kind
  UNION
  // the same code name among the people one introduction away (either way, or a
  // fellow introducee of the same introducer)
  MATCH (p)-[:INTRODUCED]-(o:Person)
  WHERE o.code_name = p.code_name
  RETURN o, 'code_name' AS kind
  UNION
  MATCH (p)<-[:INTRODUCED]-(:Person)-[:INTRODUCED]->(o:Person)
  WHERE o.code_name = p.code_name
  RETURN o, 'code_name' AS kind
  UNION
  MATCH (p)<-[:INTRODUCED]-(:Person)-[:MEMBER_OF]->(:Household)<-[:MEMBER_OF]-(o:Person)
  WHERE o.code_name = p.code_name
  RETURN o, 'code_name' AS kind
}
MATCH (o)-[:MEMBER_OF]->(c:Household)
WHERE c <> h AND c.district = h.district AND coalesce(c.status, '') <> 'rejected'
RETURN DISTINCT p.id AS person_id, o.id AS other_person_id, c.id AS household_id, c.code AS code,
       c.district AS district, kind;

// name: dedupe_household_districts
// The districts of stored households (an import's rows of people name them).
UNWIND $ids AS id
MATCH (h:Household {id: id})
RETURN h.id AS id, h.district AS district;

// name: dedupe_import_matches
// class: heavy
// The stored people that the new people of an import may be ($rows: id, district and
// blind indexes): the same phone anywhere, the same full name (either order) in the same
// district. Not rejected households' people.
UNWIND $rows AS row
CALL (row) {
  MATCH (o:Person {phone_bi: row.phone_bi})
  RETURN o, 'phone' AS kind, false AS in_district
  UNION
  MATCH (o:Person) WHERE o.name_bi IN [row.name_bi, row.name_rev_bi]
  RETURN o, 'name' AS kind, true AS in_district
  UNION
  MATCH (o:Person {name_rev_bi: row.name_bi})
  RETURN o, 'name' AS kind, true AS in_district
}
MATCH (o)-[:MEMBER_OF]->(c:Household)
WHERE o.id <> row.id AND coalesce(c.status, '') <> 'rejected' AND (NOT in_district OR c.district = row.district)
RETURN DISTINCT row.id AS id, o.id AS other_id, kind;
