// Statements of tests/test_photos*.py only.

// name: test_photo_count
MATCH (p:Photo)
RETURN count(p) AS n;
