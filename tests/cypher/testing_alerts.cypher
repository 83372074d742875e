// The alerts' tests (tests/test_alerts.py).

// name: test_alerts_households
// Bare households with the ids $ids (what the reads rule counts); also bench/alerts.py.
UNWIND $ids AS id
CREATE (:Household {id: id, code: 'A-' + id, district: '서울 노원구', status: 'active'});

// name: test_alerts_marks
MATCH (m:AlertMark)
RETURN m.key AS key ORDER BY key;
