// Statements of tests/test_exposure.py only.

// name: test_exposure_code_name
// A code name set by hand (one that a spreadsheet would run as a formula).
MATCH (p:Person {id: $person_id})
SET p.code_name = $code_name;
