// Statements of tests/test_expenses.py only (issue 16 §3).

// name: test_expenses_visit
// A visit made by $username at $household_id on $on (a scripted month of the monthly partner
// report), bringing in $brought when given.
MATCH (u:User {username: $username}), (h:Household {id: $household_id})
CREATE (u)-[:MADE]->(v:Visit {id: $id, on: $on, outcome: $outcome, materials: $materials,
                              reported_at: datetime()})-[:AT]->(h)
WITH v
OPTIONAL MATCH (b:Household {id: $brought})
FOREACH (x IN CASE WHEN b IS NULL THEN [] ELSE [b] END | CREATE (v)-[:BROUGHT]->(x))
RETURN v.id AS id;

// name: test_expenses_counts
// How many expenses, receipts and history steps the database holds.
RETURN COUNT { (:Expense) } AS expenses, COUNT { (:Receipt) } AS receipts,
       COUNT { (:ExpenseStep) } AS steps;
