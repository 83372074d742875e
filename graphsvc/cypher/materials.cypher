// The materials ledger (graphsvc/materials.py).
//   (:MaterialItem {key, id: 'item:' + key, label_en, label_ko, builtin, created_at, created_by})
//   (:MaterialMovement {id, kind, item, qty, holder, on, at, by, reason, visit_id,
//                       household_id, corrects, discrepancy, held, stock_delta, holder_delta})
//   (:MaterialMovement)-[:CORRECTS]->(:MaterialMovement)
//   (:MaterialHolding {holder, id, seq}): a holder's lock
// Movements are only ever created: a balance is the sum of the deltas of the movements
// dated on or before a day (stock_delta for the stock, holder_delta for the holder's).

// name: materials_seed
// The items every ledger has (bible, hymnal), on first use (the key is unique: schema.cypher).
UNWIND $items AS it
MERGE (i:MaterialItem {key: it.key})
ON CREATE SET i.id = 'item:' + it.key, i.label_en = it.label_en, i.label_ko = it.label_ko, i.builtin = true,
              i.created_at = $now
RETURN count(i) AS items;

// name: materials_items
MATCH (i:MaterialItem)
RETURN i.key AS key, i.label_en AS label_en, i.label_ko AS label_ko
ORDER BY coalesce(i.builtin, false) DESC, i.created_at, i.key;

// name: materials_item_create
// (a key taken already: the caller looks first, and the constraint refuses a race)
CREATE (i:MaterialItem {id: 'item:' + $key, key: $key, label_en: $label_en, label_ko: $label_ko, builtin: false,
                        created_at: $now, created_by: $by})
RETURN i.key AS key;

// name: materials_lock_items
// The stock's lock: writing the items a movement of the stock moves (in key order).
UNWIND $keys AS k
MATCH (i:MaterialItem {key: k})
SET i.seq = coalesce(i.seq, 0) + 1
RETURN i.key AS key;

// name: materials_lock_holder
// The holder's lock (their holding): one node per holder (unique: schema.cypher), written
// first by every movement of that holder's materials, so that two of them (two visit reports
// at once) are counted one after the other. (Not the account's node: a report writes edges to it.)
MERGE (l:MaterialHolding {holder: $username})
ON CREATE SET l.id = 'holding:' + $username
SET l.seq = coalesce(l.seq, 0) + 1
RETURN l.holder AS holder;

// name: materials_holder
MATCH (u:User {username: $username})
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts,
       coalesce(u.enabled, false) AS enabled;

// name: materials_holders
// The accounts of roles that hold materials ($roles: the field-work roles).
MATCH (u:User)
WHERE u.role IN $roles
RETURN u.username AS username, u.role AS role, coalesce(u.districts, []) AS districts,
       coalesce(u.enabled, false) AS enabled
ORDER BY u.username;

// name: materials_deltas
// The day-by-day change of one holding ($holder; null: the stock) of each of $items.
MATCH (m:MaterialMovement)
WHERE m.item IN $items
  AND CASE WHEN $holder IS NULL THEN m.stock_delta <> 0 ELSE m.holder = $holder AND m.holder_delta <> 0 END
RETURN m.item AS item, m.on AS on,
       sum(CASE WHEN $holder IS NULL THEN m.stock_delta ELSE m.holder_delta END) AS delta
ORDER BY item, on;

// name: materials_movement_create
MERGE (m:MaterialMovement {id: $id})
SET m += $props
WITH m
OPTIONAL MATCH (c:MaterialMovement {id: $corrects})
FOREACH (_ IN CASE WHEN c IS NULL THEN [] ELSE [1] END | MERGE (m)-[:CORRECTS]->(c))
RETURN m.id AS id;

// name: materials_movement
// One movement, and whether a correction names it already.
MATCH (m:MaterialMovement {id: $id})
RETURN m.id AS id, m.kind AS kind, m.item AS item, m.qty AS qty, m.holder AS holder, m.on AS on,
       m.stock_delta AS stock_delta, m.holder_delta AS holder_delta,
       m.visit_id AS visit_id, m.household_id AS household_id,
       EXISTS { (m)<-[:CORRECTS]-(:MaterialMovement) } AS corrected;

// name: materials_holder_balances
// Every holder's balance of every item on $on ($holder: one holder only), non-zero ones.
MATCH (m:MaterialMovement)
WHERE m.holder IS NOT NULL AND m.on <= $on AND ($holder IS NULL OR m.holder = $holder)
WITH m.holder AS holder, m.item AS item, sum(m.holder_delta) AS qty
WHERE qty <> 0
RETURN holder, item, qty
ORDER BY holder, item;

// name: materials_stock_balances
MATCH (m:MaterialMovement)
WHERE m.on <= $on
WITH m.item AS item, sum(m.stock_delta) AS qty
RETURN item, qty
ORDER BY item;

// name: materials_given
// What a holder gave at visits between two days (both included), less what was corrected.
MATCH (m:MaterialMovement {kind: 'given', holder: $holder})
WHERE m.on >= $since AND m.on <= $until AND NOT EXISTS { (m)<-[:CORRECTS]-(:MaterialMovement) }
RETURN m.item AS item, m.qty AS qty, m.visit_id AS visit_id, m.on AS on, m.id AS id
ORDER BY on, visit_id, item;

// name: materials_discrepancies
// Given at a visit beyond what the reporter held (flagged), not corrected, and the holder
// still short of the item now; of households of $districts (null: every district).
MATCH (m:MaterialMovement {kind: 'given', discrepancy: true})
WHERE NOT EXISTS { (m)<-[:CORRECTS]-(:MaterialMovement) }
MATCH (h:Household {id: m.household_id})
WHERE $districts IS NULL OR h.district IN $districts
CALL (m) {
  MATCH (x:MaterialMovement {holder: m.holder, item: m.item})
  RETURN sum(x.holder_delta) AS now_holds
}
WITH m, h, now_holds
WHERE now_holds < 0
RETURN m.id AS id, m.holder AS holder, m.item AS item, m.qty AS qty, m.held AS held, now_holds,
       m.on AS on, m.visit_id AS visit_id, h.id AS household_id, h.code AS code
ORDER BY m.on DESC, m.id
LIMIT $limit;

// name: materials_recent
// The latest movements ($holders: only of these holders and of the stock; null: all), with
// the visited household's district (the caller shows its id to whom may know it).
MATCH (m:MaterialMovement)
WHERE $holders IS NULL OR m.holder IS NULL OR m.holder IN $holders
OPTIONAL MATCH (h:Household {id: m.household_id})
RETURN m.id AS id, m.kind AS kind, m.item AS item, m.qty AS qty, m.holder AS holder, m.on AS on,
       m.at AS at, m.by AS by, m.reason AS reason, m.corrects AS corrects,
       coalesce(m.discrepancy, false) AS discrepancy, m.visit_id AS visit_id,
       h.id AS household_id, h.code AS code, h.district AS district,
       EXISTS { (m)<-[:CORRECTS]-(:MaterialMovement) } AS corrected
ORDER BY m.at DESC, m.id DESC
LIMIT $limit;
