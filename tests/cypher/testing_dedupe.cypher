// Statements the tests of duplicate scoring read (tests/test_dedupe.py).

// name: test_dedupe_person_indexes
MATCH (p:Person {id: $id})
RETURN p.phone_bi AS phone_bi, p.name_bi AS name_bi, p.name_rev_bi AS name_rev_bi,
       p.address_bi AS address_bi, p.bi_kid AS bi_kid;

// name: test_dedupe_all_indexes
MATCH (p:Person)
RETURN p.id AS id, p.phone_bi AS phone_bi, p.name_bi AS name_bi, p.name_rev_bi AS name_rev_bi,
       p.address_bi AS address_bi, p.bi_kid AS bi_kid
ORDER BY id;
