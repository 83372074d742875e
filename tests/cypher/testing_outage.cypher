// The fault tests' reads (tests/test_outage.py).

// name: test_person_code_names
// Every person's code name (each outage write adds one of its own).
MATCH (p:Person)
RETURN p.code_name AS code_name;

