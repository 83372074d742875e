// Expenses of partners, their receipts and status history (graphsvc/expenses.py):
//   (:User)-[:SUBMITTED]->(:Expense {id, username, org, amount, spent_on, category,
//       description, status, submitted_at, paid_on, seq})
//   (:Expense)-[:RECEIPT]->(:Receipt {id, expense_id, file_id, mime, width, height, n})
//   (:Expense)-[:STEP]->(:ExpenseStep {expense_id, n, at, by, from_status, to_status,
//       reason, paid_on})
// A receipt's file lives encrypted in the file store (graphsvc/filestore.py), bound to
// ("receipt", the receipt's id); the node keeps its file_id only.

// name: expense_create
// A new expense by $username, submitted, with its first step of history.
MATCH (u:User {username: $username})
CREATE (u)-[:SUBMITTED]->(e:Expense {id: $id, username: u.username, org: u.org, amount: $amount,
                                     spent_on: $spent_on, category: $category,
                                     description: $description, status: 'submitted',
                                     submitted_at: $now, seq: 0})
CREATE (e)-[:STEP]->(:ExpenseStep {expense_id: $id, n: 0, at: $now, by: u.username,
                                   from_status: null, to_status: 'submitted'})
RETURN e.id AS id;

// name: expense_receipts_add
// The receipts of a new expense: one node per stored image (a PDF gives one per page).
MATCH (e:Expense {id: $id})
UNWIND $receipts AS r
CREATE (e)-[:RECEIPT]->(:Receipt {id: r.id, expense_id: e.id, file_id: r.file_id, mime: r.mime,
                                  width: r.width, height: r.height, n: r.n})
RETURN count(*) AS receipts;

// name: expense_lock
// First statement of a decision: writing the expense takes its write lock, so that two
// approvers at once queue here; the second then reads the status the first left.
MATCH (e:Expense {id: $id})
SET e.seq = coalesce(e.seq, 0) + 1
RETURN e.id AS id, e.username AS username, e.status AS status, e.spent_on AS spent_on,
       COUNT { (e)-[:STEP]->(:ExpenseStep) } AS steps;

// name: expense_step
// Move the expense to $to_status and keep the step in its history.
MATCH (e:Expense {id: $id})
SET e.status = $to_status,
    e.paid_on = CASE WHEN $paid_on IS NULL THEN e.paid_on ELSE $paid_on END
CREATE (e)-[:STEP]->(:ExpenseStep {expense_id: e.id, n: $n, at: $now, by: $by,
                                   from_status: $from_status, to_status: $to_status,
                                   reason: $reason, paid_on: $paid_on})
RETURN e.id AS id;

// name: expense_get
// One expense with its receipts and history (oldest step first).
MATCH (e:Expense {id: $id})
CALL (e) {
  OPTIONAL MATCH (e)-[:RECEIPT]->(r:Receipt)
  WITH r ORDER BY r.n
  RETURN collect(CASE WHEN r IS NOT NULL THEN {id: r.id, mime: r.mime, width: r.width,
                                               height: r.height, n: r.n} END) AS receipts
}
CALL (e) {
  OPTIONAL MATCH (e)-[:STEP]->(s:ExpenseStep)
  WITH s ORDER BY s.n
  RETURN collect(CASE WHEN s IS NOT NULL THEN {n: s.n, at: s.at, by: s.by, from_status: s.from_status,
                                               to_status: s.to_status, reason: s.reason,
                                               paid_on: s.paid_on} END) AS history
}
RETURN e.id AS id, e.username AS username, e.org AS org, e.amount AS amount, e.spent_on AS spent_on,
       e.category AS category, e.description AS description, e.status AS status,
       e.submitted_at AS submitted_at, e.paid_on AS paid_on, receipts, history;

// name: expense_list
// Expenses newest first (by date spent, then submission): of $username when given, in
// [$since, $until) when given, of $status when given; at most $limit.
MATCH (e:Expense)
WHERE ($username IS NULL OR e.username = $username)
  AND ($status IS NULL OR e.status = $status)
  AND ($since IS NULL OR e.spent_on >= $since)
  AND ($until IS NULL OR e.spent_on < $until)
  AND ($exclude IS NULL OR e.username <> $exclude)
WITH e ORDER BY e.spent_on DESC, e.submitted_at DESC LIMIT $limit
RETURN e.id AS id, e.username AS username, e.org AS org, e.amount AS amount, e.spent_on AS spent_on,
       e.category AS category, e.description AS description, e.status AS status,
       e.submitted_at AS submitted_at, e.paid_on AS paid_on,
       COUNT { (e)-[:RECEIPT]->(:Receipt) } AS receipts;

// name: expense_totals
// Sums by month spent, partner and status (of $username when given, in [$since, $until)
// when given).
MATCH (e:Expense)
WHERE ($username IS NULL OR e.username = $username)
  AND ($since IS NULL OR e.spent_on >= $since)
  AND ($until IS NULL OR e.spent_on < $until)
WITH e, toString(e.spent_on.year) + '-' + right('0' + toString(e.spent_on.month), 2) AS month
RETURN month, e.username AS username, e.status AS status, count(e) AS count, sum(e.amount) AS amount
ORDER BY month DESC, username, status;

// name: expense_receipt
// A receipt with what the policy needs: whose expense it is.
MATCH (e:Expense)-[:RECEIPT]->(r:Receipt {id: $id})
RETURN r.id AS id, r.file_id AS file_id, r.mime AS mime, r.n AS n, e.id AS expense_id, e.username AS username;

// name: expense_submitter
// Whose expense it is (the policy's fact), or no row.
MATCH (e:Expense {id: $id})
RETURN e.id AS id, e.username AS username;

// name: partner_report_account
// The account a monthly report is about: its role and organisation (no row: none).
MATCH (u:User {username: $username})
RETURN u.username AS username, u.role AS role, u.org AS org;

// name: partner_report_visits
// A reporter's visits in [$since, $until), oldest first, with the household each was at and
// the households each brought in, and how many photos it carries (graphsvc/photos.py).
MATCH (:User {username: $username})-[:MADE]->(v:Visit)-[:AT]->(h:Household)
WHERE v.on >= $since AND v.on < $until
OPTIONAL MATCH (v)-[:BROUGHT]->(b:Household)
WITH v, h, collect(CASE WHEN b IS NOT NULL THEN {id: b.id, code: b.code, district: b.district,
                        women_only: coalesce(b.women_only, false)} END) AS brought
ORDER BY v.on, v.id
RETURN v.id AS visit_id, v.on AS visited_on, v.outcome AS outcome, v.materials AS materials,
       h.id AS household_id, h.code AS code, h.district AS district,
       coalesce(h.women_only, false) AS women_only, brought,
       COUNT { (v)<-[:OF]-(:Photo) } AS photos,
       COUNT { (v)<-[:OF]-(:Photo {state: 'sanitized'}) } AS photos_sanitized;

// name: partner_report_shared
// The households shared with an organisation now (graphsvc/sharing.py), and since when.
MATCH (h:Household)-[r:SHARED_WITH]->(:Org {name: $org})
RETURN h.id AS household_id, h.code AS code, h.district AS district,
       coalesce(h.women_only, false) AS women_only, r.at AS shared_at
ORDER BY code;
