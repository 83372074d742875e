// The schema: uniqueness constraints (each also an index) and lookup indexes.
// Every statement is idempotent (IF NOT EXISTS); `graphsvc schema apply` runs them in order.

// default class: batch
// (indexes may take a while to build)

// name: constraint_household_id
CREATE CONSTRAINT household_id IF NOT EXISTS FOR (h:Household) REQUIRE h.id IS UNIQUE;

// name: constraint_household_code
CREATE CONSTRAINT household_code IF NOT EXISTS FOR (h:Household) REQUIRE h.code IS UNIQUE;

// name: constraint_person_id
CREATE CONSTRAINT person_id IF NOT EXISTS FOR (p:Person) REQUIRE p.id IS UNIQUE;

// name: constraint_visit_id
CREATE CONSTRAINT visit_id IF NOT EXISTS FOR (v:Visit) REQUIRE v.id IS UNIQUE;

// name: constraint_user_username
CREATE CONSTRAINT user_username IF NOT EXISTS FOR (u:User) REQUIRE u.username IS UNIQUE;

// name: index_household_district
CREATE INDEX household_district IF NOT EXISTS FOR (h:Household) ON (h.district);

// name: index_household_status
CREATE INDEX household_status IF NOT EXISTS FOR (h:Household) ON (h.status);

// name: index_person_code_name
CREATE INDEX person_code_name IF NOT EXISTS FOR (p:Person) ON (p.code_name);

// name: index_visit_on
CREATE INDEX visit_on IF NOT EXISTS FOR (v:Visit) ON (v.on);

// name: index_introduced_on
CREATE INDEX introduced_on IF NOT EXISTS FOR ()-[r:INTRODUCED]-() ON (r.on);


// name: index_household_chain
// The derived chain index (graphsvc/chains.py): a household's chain root, its parent
// household and its wave, so that maps and overviews are plain index lookups.
CREATE INDEX household_chain IF NOT EXISTS FOR (h:Household) ON (h.chain);

// name: index_household_parent
CREATE INDEX household_parent IF NOT EXISTS FOR (h:Household) ON (h.parent);

// name: constraint_chain_index_lock
// One lock node for the chain index (chains_lock): two first-ever updates cannot each
// create one.
CREATE CONSTRAINT chain_index_lock IF NOT EXISTS FOR (l:ChainIndexLock) REQUIRE l.id IS UNIQUE;

// name: constraint_household_code_counter
// One counter of household codes (household_code_counter): two first-ever codes given at
// once would otherwise each MERGE a counter of their own and give one code twice.
CREATE CONSTRAINT household_code_counter IF NOT EXISTS FOR (c:HouseholdCodeCounter) REQUIRE c.id IS UNIQUE;

// name: constraint_write_lock
// One node per write lock (introductions_lock and the like), for the same reason.
CREATE CONSTRAINT write_lock_name IF NOT EXISTS FOR (l:WriteLock) REQUIRE l.name IS UNIQUE;


// name: constraint_audit_seq
// The audit log: one event per sequence number (audit.py keeps the chain and its head).
CREATE CONSTRAINT audit_event_seq IF NOT EXISTS FOR (e:AuditEvent) REQUIRE e.seq IS UNIQUE;

// name: constraint_audit_head
// One head: two first-ever appends cannot each create one.
CREATE CONSTRAINT audit_head_id IF NOT EXISTS FOR (h:AuditHead) REQUIRE h.id IS UNIQUE;

// name: constraint_alert_mark_key
// Alerts (graphsvc/alerts.py): one mark per alert of an account, rule and day, and per
// acknowledgement, so that concurrent checks raise it once.
CREATE CONSTRAINT alert_mark_key IF NOT EXISTS FOR (m:AlertMark) REQUIRE m.key IS UNIQUE;

// name: index_audit_actor
CREATE INDEX audit_event_actor IF NOT EXISTS FOR (e:AuditEvent) ON (e.actor);

// name: index_audit_at
CREATE INDEX audit_event_at IF NOT EXISTS FOR (e:AuditEvent) ON (e.at);

// name: index_audit_action
CREATE INDEX audit_event_action IF NOT EXISTS FOR (e:AuditEvent) ON (e.action);

// name: index_audit_actor_seq
// One account's events newest first (graphsvc/auditsearch.py): an equality seek on actor and
// a range on seq, read in the index's order (no sort of every event of a busy account).
CREATE INDEX audit_event_actor_seq IF NOT EXISTS FOR (e:AuditEvent) ON (e.actor, e.seq);

// name: index_audit_action_seq
// The same for one action (household.identity.read, export …).
CREATE INDEX audit_event_action_seq IF NOT EXISTS FOR (e:AuditEvent) ON (e.action, e.seq);

// name: index_audit_targets
// "Who saw household X" (graphsvc/auditsearch.py): a range or text index cannot index the
// members of a list, a full-text index can. The keyword analyzer keeps each target id whole
// and exact (case-sensitive). Eventually consistent: updated just after the append commits
// (a transactional full-text index cost every append ~50 ms at a million events, against
// ~3 ms without it: bench/RESULTS.md); the searches add the newest events by a scan of their
// own (auditsearch.TAIL). Events stay as they are: the chain and its hashes are untouched.
CREATE FULLTEXT INDEX audit_event_targets IF NOT EXISTS FOR (e:AuditEvent) ON EACH [e.targets]
  OPTIONS {indexConfig: {`fulltext.analyzer`: 'keyword', `fulltext.eventually_consistent`: true}};

// name: constraint_session_id
CREATE CONSTRAINT session_id IF NOT EXISTS FOR (s:Session) REQUIRE s.id_hash IS UNIQUE;

// name: constraint_token_hash
CREATE CONSTRAINT token_hash IF NOT EXISTS FOR (t:Token) REQUIRE t.hash IS UNIQUE;

// name: constraint_throttle_key
CREATE CONSTRAINT throttle_key IF NOT EXISTS FOR (t:Throttle) REQUIRE t.key IS UNIQUE;

// name: index_throttle_expires_at
// Spent sign-in throttle records are purged by expires_at (cypher/accounts.cypher throttle_purge).
CREATE INDEX throttle_expires_at IF NOT EXISTS FOR (t:Throttle) ON (t.expires_at);

// name: index_household_unvisited_since
// The suggestions' candidate streams (cypher/suggest.cypher) read these, never visits.
CREATE INDEX household_district_unvisited_since IF NOT EXISTS FOR (h:Household) ON (h.district, h.unvisited_since);

// name: index_household_last_visit_on
CREATE INDEX household_district_last_visit_on IF NOT EXISTS FOR (h:Household) ON (h.district, h.last_visit_on);

// name: index_household_follow_up_on
CREATE INDEX household_district_follow_up_on IF NOT EXISTS FOR (h:Household) ON (h.district, h.follow_up_on);

// name: index_household_arrived_on
CREATE INDEX household_district_arrived_on IF NOT EXISTS FOR (h:Household) ON (h.district, h.arrived_on);

// name: index_claim_expires_at
CREATE INDEX claim_expires_at IF NOT EXISTS FOR (c:Claim) ON (c.expires_at);

// name: constraint_claim_id
CREATE CONSTRAINT claim_id IF NOT EXISTS FOR (c:Claim) REQUIRE c.id IS UNIQUE;

// name: index_person_phone_bi
// Blind indexes of identity (graphsvc/blindindex.py): duplicate scoring finds equal values
// by index seek, without decrypting anything (graphsvc/dedupe.py).
CREATE INDEX person_phone_bi IF NOT EXISTS FOR (p:Person) ON (p.phone_bi);

// name: index_person_name_bi
CREATE INDEX person_name_bi IF NOT EXISTS FOR (p:Person) ON (p.name_bi);

// name: index_person_name_rev_bi
CREATE INDEX person_name_rev_bi IF NOT EXISTS FOR (p:Person) ON (p.name_rev_bi);

// name: index_person_address_bi
CREATE INDEX person_address_bi IF NOT EXISTS FOR (p:Person) ON (p.address_bi);

// name: constraint_reset_link_hash
// A password-reset link is found by the SHA-256 of its token (cypher/team.cypher).
CREATE CONSTRAINT reset_link_hash IF NOT EXISTS FOR (r:ResetLink) REQUIRE r.hash IS UNIQUE;

// name: schema_await_indexes
// Wait until the indexes above are online, so that imports right after use them.
CALL db.awaitIndexes(300);
// name: constraint_idempotency_key
// One stored request per user and Idempotency-Key (graphsvc/idempotency.py): a second
// transaction creating the same key waits for the first and then fails, so a retry sent
// while the first is still running cannot write twice.
CREATE CONSTRAINT idempotency_key IF NOT EXISTS FOR (k:IdempotencyKey) REQUIRE (k.owner, k.key) IS UNIQUE;

// name: index_idempotency_expires
// Expired keys are purged by their expiry (idempotency_purge).
CREATE INDEX idempotency_expires IF NOT EXISTS FOR (k:IdempotencyKey) ON (k.expires_at);

// name: constraint_retention_state_id
// Retention (graphsvc/retention.py): one lock-and-progress node per kind.
CREATE CONSTRAINT retention_state_id IF NOT EXISTS FOR (r:RetentionState) REQUIRE r.id IS UNIQUE;

// name: constraint_person_key
// One key per person (graphsvc/personkeys.py): two writers cannot each make one.
CREATE CONSTRAINT person_key_person IF NOT EXISTS FOR (k:PersonKey) REQUIRE k.person_id IS UNIQUE;

// name: constraint_photo_id
// Visit photos (graphsvc/photos.py, issue 16 §5).
CREATE CONSTRAINT photo_id IF NOT EXISTS FOR (p:Photo) REQUIRE p.id IS UNIQUE;

// name: constraint_org_name
// Partner organisations (graphsvc/orgs.py): one node per name.
CREATE CONSTRAINT org_name IF NOT EXISTS FOR (o:Org) REQUIRE o.name IS UNIQUE;

// name: constraint_material_item_key
// The materials ledger (graphsvc/materials.py): one item per key (the first use MERGEs
// bible and hymnal: two at once must not each create one).
CREATE CONSTRAINT material_item_key IF NOT EXISTS FOR (i:MaterialItem) REQUIRE i.key IS UNIQUE;

// name: constraint_material_holding_holder
// One lock node per holder of materials (materials_lock_holder).
CREATE CONSTRAINT material_holding_holder IF NOT EXISTS FOR (l:MaterialHolding) REQUIRE l.holder IS UNIQUE;

// name: constraint_material_movement_id
CREATE CONSTRAINT material_movement_id IF NOT EXISTS FOR (m:MaterialMovement) REQUIRE m.id IS UNIQUE;

// name: index_material_movement_holder
CREATE INDEX material_movement_holder IF NOT EXISTS FOR (m:MaterialMovement) ON (m.holder, m.item);

// name: constraint_expense_id
// Expenses of partners and their receipts (graphsvc/expenses.py, issue 16 §3).
CREATE CONSTRAINT expense_id IF NOT EXISTS FOR (e:Expense) REQUIRE e.id IS UNIQUE;

// name: constraint_receipt_id
CREATE CONSTRAINT receipt_id IF NOT EXISTS FOR (r:Receipt) REQUIRE r.id IS UNIQUE;

// name: index_expense_status
CREATE INDEX expense_status IF NOT EXISTS FOR (e:Expense) ON (e.status);
