// The derived chain index (graphsvc/chains.py keeps it, graphsvc/network.py holds its
// rule): every household that came in through an introduction from another household has
// h.parent (that household's id), h.chain (the root household of its chain), h.wave
// (households from the root; a root is wave 0) and h.joined_on (the date of that
// introduction). Roots have none of these: coalesce(h.chain, h.id) and
// coalesce(h.wave, 0) read them (cypher/network.cypher). Indexes on h.parent and h.chain
// (cypher/schema.cypher) serve the incremental update's walks.
//
// An introduction "into" a household is one whose introduced person is a member of it
// while the introducer is a member of another household; each is read as
// [introducer household, introduced on, introduced person, ...] (graphsvc/network.py Entry).

// name: chains_lock
// class: light
// Every change of the index holds this lock until its transaction ends, so that no two
// read the placements the other is changing (the first takes it, the others wait).
// The node is made on first use (schema: one only); it holds nothing else.
MERGE (l:ChainIndexLock {id: 'chains'})
SET l.taken = true
REMOVE l.taken;

// --- the full recompute: chains.refresh ---------------------------------------------

// name: chains_cross_introductions
// class: batch
// Every introduction between two households, in one record (a list of
// [introduced household, introducer household, introduced on, introduced person]).
MATCH (gi:Household)<-[:MEMBER_OF]-(:Person)-[r:INTRODUCED]->(p:Person)-[:MEMBER_OF]->(gp:Household)
WHERE gi <> gp
RETURN collect([gp.id, gi.id, r.on, p.id]) AS rows;

// name: chains_stored
// class: batch
// The placements stored now (roots store none), in one record.
MATCH (h:Household) WHERE h.parent IS NOT NULL
RETURN collect([h.id, h.parent, h.chain, h.wave, h.joined_on]) AS rows;

// name: chains_set
// class: batch
// New placements; a row of nulls turns a household back into a root.
UNWIND $rows AS row
MATCH (h:Household {id: row.id})
SET h.parent = row.parent, h.chain = row.chain, h.wave = row.wave, h.joined_on = row.joined_on;

// --- one change at a time: chains.update_in_tx (inside the writer's transaction) -----

// name: chains_around
// class: light
// The households whose way in may have changed: those of $ids and those their members
// introduced someone into ("candidates"), and the root households of their chains (not
// candidates: read to find a loop that a change breaks), in one record. Each row:
// [id, candidate, stored parent, chain, wave, joined_on, introductions into it: [[introducer
// household, introduced on, introduced person, that household's stored chain, wave]],
// whether any household is placed below it].
// Ids of households that do not exist (any more) give no row.
UNWIND $ids AS hid
MATCH (h:Household {id: hid})
OPTIONAL MATCH (h)<-[:MEMBER_OF]-(:Person)-[:INTRODUCED]->(:Person)-[:MEMBER_OF]->(k:Household)
WHERE k <> h
WITH collect(DISTINCT h) + collect(DISTINCT k) AS found
UNWIND found AS c
WITH DISTINCT c
OPTIONAL MATCH (root:Household {id: c.chain})
WITH collect(c) AS candidates, collect(DISTINCT root) AS roots
UNWIND candidates + [r IN roots WHERE NOT r IN candidates] AS h
WITH h, h IN candidates AS candidate
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)<-[r:INTRODUCED]-(:Person)-[:MEMBER_OF]->(g:Household)
  WHERE g <> h
  RETURN collect([g.id, r.on, p.id, coalesce(g.chain, g.id), coalesce(g.wave, 0)]) AS entries
}
RETURN collect([h.id, candidate, h.parent, h.chain, h.wave, h.joined_on, entries,
                EXISTS { MATCH (c:Household) WHERE c.parent = h.id }]) AS rows;

// name: chains_children
// class: light
// The households placed directly below $ids (one level of a subtree), with their stored
// placement, in one record: [id, parent, chain, wave, joined_on].
UNWIND $ids AS pid
MATCH (h:Household {parent: pid})
RETURN collect([h.id, h.parent, h.chain, h.wave, h.joined_on]) AS rows;

// name: chains_place
// class: light
// New placements of a few households (chains_set for one change); nulls make a root.
UNWIND $rows AS row
MATCH (h:Household {id: row.id})
SET h.parent = row.parent, h.chain = row.chain, h.wave = row.wave, h.joined_on = row.joined_on;
