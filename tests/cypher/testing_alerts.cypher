// The alerts' tests (tests/test_alerts.py).

// name: test_alerts_households
// Bare households h-a000 … (ids only: what the reads rule counts).
UNWIND range(0, $n - 1) AS i
CREATE (:Household {id: 'h-a' + right('000' + toString(i), 3), code: 'A-' + toString(i), district: '서울 노원구', status: 'active'});

// name: test_alerts_marks
MATCH (m:AlertMark)
RETURN m.key AS key ORDER BY key;
