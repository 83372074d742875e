// Single-record writes for tests/test_chains.py (the property test of the chain index).

// name: test_chains_add_household
// class: light
CREATE (h:Household {id: $household, code: $household, district: 'd', status: 'active'});

// name: test_chains_add_person
// class: light
MATCH (h:Household {id: $household})
CREATE (:Person {id: $person, code_name: $person})-[:MEMBER_OF]->(h);

// name: test_chains_move_person
// class: light
// $person leaves every household and joins $household.
MATCH (p:Person {id: $person}), (h:Household {id: $household})
OPTIONAL MATCH (p)-[m:MEMBER_OF]->()
DELETE m
WITH DISTINCT p, h
CREATE (p)-[:MEMBER_OF]->(h);
