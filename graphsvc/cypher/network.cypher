// The introduction network as the map, the lists and the chain API read it.
//
// Derived chain index (graphsvc/chains.py keeps it, its statements are in chains.cypher):
// every household that came in through an introduction from another household has
// h.parent (that household's id), h.chain (the root household of its chain), h.wave
// (households from the root; a root is wave 0) and h.joined_on (the date of that
// introduction). Roots have none of these: coalesce(h.chain, h.id) and coalesce(h.wave, 0)
// read them.
//
// Visit classes, used by the map's colours and filters (one definition, here):
//   pending - brought back from a visit, awaiting a coordinator's review
//   closed  - status moved, closed or do_not_visit
//   never   - active, never visited
//   overdue - active, last visit before $overdue_before (today - follow-up interval)
//   recent  - active, visited since
// Households rejected or merged at review (status rejected, merged) are on no map and in no list.
// Scope: $districts is the list of districts the caller may see, null for all.

// default class: heavy
// (transaction timeouts by class: graphsvc/db.py CLASSES)

// name: map_groups
// Households per (district, chain) among those the filters keep, in one record:
// [district, chain, households, unvisited (active, never visited), people, deepest wave,
//  sample: the smallest household id of the group (a drill-down reference in scope)].
MATCH (h:Household)
WHERE ($districts IS NULL OR h.district IN $districts)
  AND NOT coalesce(h.status, '') IN ['rejected', 'merged']
  AND ($chains IS NULL OR coalesce(h.chain, h.id) IN $chains)
  AND ($wave_min IS NULL OR coalesce(h.wave, 0) >= $wave_min)
  AND ($wave_max IS NULL OR coalesce(h.wave, 0) <= $wave_max)
  AND ($joined_since IS NULL OR h.joined_on >= $joined_since)
  AND ($joined_until IS NULL OR h.joined_on <= $joined_until)
WITH h, CASE WHEN h.status = 'pending' THEN 'pending'
             WHEN h.status <> 'active' THEN 'closed'
             WHEN h.last_visit_on IS NULL THEN 'never'
             WHEN h.last_visit_on < $overdue_before THEN 'overdue'
             ELSE 'recent' END AS class
WHERE $classes IS NULL OR class IN $classes
WITH h.district AS district, coalesce(h.chain, h.id) AS chain, count(*) AS households,
     sum(CASE class WHEN 'never' THEN 1 ELSE 0 END) AS unvisited,
     sum(COUNT { (h)<-[:MEMBER_OF]-() }) AS people, max(coalesce(h.wave, 0)) AS depth,
     min(h.id) AS sample
RETURN collect([district, chain, households, unvisited, people, depth, sample]) AS rows;

// name: map_households
// The households the filters keep, with what the map draws, in one record. Each row:
// [id, code, district, status, arrived_on, parent, chain, wave, joined_on, class,
//  last visit, visits, members [[id, code_name]], introduced by [[household, district]],
//  introduced [[household, district]], introductions made].
MATCH (h:Household)
WHERE ($districts IS NULL OR h.district IN $districts)
  AND NOT coalesce(h.status, '') IN ['rejected', 'merged']
  AND ($ids IS NULL OR h.id IN $ids)
  AND ($chains IS NULL OR coalesce(h.chain, h.id) IN $chains)
  AND ($wave_min IS NULL OR coalesce(h.wave, 0) >= $wave_min)
  AND ($wave_max IS NULL OR coalesce(h.wave, 0) <= $wave_max)
  AND ($joined_since IS NULL OR h.joined_on >= $joined_since)
  AND ($joined_until IS NULL OR h.joined_on <= $joined_until)
WITH h, h.last_visit_on AS last, COUNT { (h)<-[:AT]-(:Visit) } AS visits,
     CASE WHEN h.status = 'pending' THEN 'pending'
          WHEN h.status <> 'active' THEN 'closed'
          WHEN h.last_visit_on IS NULL THEN 'never'
          WHEN h.last_visit_on < $overdue_before THEN 'overdue'
          ELSE 'recent' END AS class
WHERE $classes IS NULL OR class IN $classes
CALL (h) {
  MATCH (h)<-[:MEMBER_OF]-(p:Person)
  WITH p ORDER BY p.id
  RETURN collect([p.id, p.code_name]) AS members
}
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(:Person)<-[:INTRODUCED]-(:Person)-[:MEMBER_OF]->(g:Household)
  WHERE g <> h
  RETURN collect(DISTINCT CASE WHEN g IS NOT NULL THEN [g.id, g.district] END) AS introduced_by
}
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(:Person)-[r:INTRODUCED]->(:Person)-[:MEMBER_OF]->(g:Household)
  RETURN collect(DISTINCT CASE WHEN g <> h THEN [g.id, g.district] END) AS introduced,
         count(r) AS made
}
RETURN collect([h.id, h.code, h.district, h.status, h.arrived_on, h.parent,
                coalesce(h.chain, h.id), coalesce(h.wave, 0), h.joined_on, class, last, visits,
                members, introduced_by, introduced, made]) AS rows;

// name: map_skeleton
// The households the filters keep, as little as the map needs to choose which to draw
// (graphsvc/netmap.py choose): [id, district, parent, chain, wave, introduced by
// [[household, district]], introduced [[household, district]]], in one record; the two
// lists of introductions only when $with_edges ("around household X" walks them), else
// the parent alone. The chosen households are then read whole with map_households ($ids):
// the heavy part of a map is read for at most the households it draws.
MATCH (h:Household)
WHERE ($districts IS NULL OR h.district IN $districts)
  AND NOT coalesce(h.status, '') IN ['rejected', 'merged']
  AND ($chains IS NULL OR coalesce(h.chain, h.id) IN $chains)
  AND ($wave_min IS NULL OR coalesce(h.wave, 0) >= $wave_min)
  AND ($wave_max IS NULL OR coalesce(h.wave, 0) <= $wave_max)
  AND ($joined_since IS NULL OR h.joined_on >= $joined_since)
  AND ($joined_until IS NULL OR h.joined_on <= $joined_until)
WITH h, CASE WHEN h.status = 'pending' THEN 'pending'
             WHEN h.status <> 'active' THEN 'closed'
             WHEN h.last_visit_on IS NULL THEN 'never'
             WHEN h.last_visit_on < $overdue_before THEN 'overdue'
             ELSE 'recent' END AS class
WHERE $classes IS NULL OR class IN $classes
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(:Person)<-[:INTRODUCED]-(:Person)-[:MEMBER_OF]->(g:Household)
  WHERE $with_edges AND g <> h
  RETURN collect(DISTINCT CASE WHEN g IS NOT NULL THEN [g.id, g.district] END) AS introduced_by
}
CALL (h) {
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(:Person)-[:INTRODUCED]->(:Person)-[:MEMBER_OF]->(g:Household)
  WHERE $with_edges AND g <> h
  RETURN collect(DISTINCT CASE WHEN g IS NOT NULL THEN [g.id, g.district] END) AS introduced
}
RETURN collect([h.id, h.district, h.parent, coalesce(h.chain, h.id), coalesce(h.wave, 0),
                introduced_by, introduced]) AS rows;

// name: map_search
// Households in scope whose code is $q or one of whose members' code names contains
// $q (case-insensitive), at most $limit, by id.
MATCH (h:Household)
WHERE ($districts IS NULL OR h.district IN $districts)
  AND NOT coalesce(h.status, '') IN ['rejected', 'merged']
  AND (toLower(h.code) = toLower($q)
       OR EXISTS { (h)<-[:MEMBER_OF]-(p:Person) WHERE toLower(p.code_name) CONTAINS toLower($q) })
WITH h ORDER BY h.id LIMIT $limit
RETURN h.id AS id, coalesce(h.chain, h.id) AS chain, h.district AS district;

// name: map_household_ref
// class: light
// One household by id or code (the map's "around household X"), with its chain.
MATCH (h:Household)
WHERE h.id = $ref OR h.code = $ref
RETURN h.id AS id, h.district AS district, coalesce(h.chain, h.id) AS chain,
       coalesce(h.wave, 0) AS wave
ORDER BY h.id LIMIT 1;

// name: map_chain_labels
// class: light
// What an overview may say about chains whose root is visible: the root's code and the
// code name of its first member.
UNWIND $ids AS id
MATCH (h:Household {id: id})
OPTIONAL CALL (h) {
  MATCH (h)<-[:MEMBER_OF]-(p:Person)
  RETURN p.id AS person_id, p.code_name AS code_name ORDER BY p.id LIMIT 1
}
RETURN h.id AS id, h.code AS code, h.district AS district, person_id, code_name;

// name: map_chain_people
// The people of the given households and the introductions that touch them, for the
// person-level view of a chain. Each person: [id, code_name, household, district,
// introducer id, introducer household, introducer district, introduced on,
// introduced [[person, household, district]]].
UNWIND $ids AS hid
MATCH (h:Household {id: hid})<-[:MEMBER_OF]-(p:Person)
OPTIONAL MATCH (i:Person)-[r:INTRODUCED]->(p)
OPTIONAL MATCH (i)-[:MEMBER_OF]->(g:Household)
CALL (p) {
  OPTIONAL MATCH (p)-[:INTRODUCED]->(o:Person)-[:MEMBER_OF]->(og:Household)
  RETURN collect(CASE WHEN o IS NOT NULL THEN [o.id, og.id, og.district] END) AS introduced
}
RETURN collect([p.id, p.code_name, h.id, h.district, i.id, g.id, g.district, r.on, introduced]) AS rows;

// name: person_chain
// One person's introduction path from their seed: the people from the seed down to
// them, each [id, code_name, household, district], seed first.
MATCH (p:Person {id: $id})
MATCH path = (s:Person)-[:INTRODUCED*0..]->(p)
WHERE NOT EXISTS { ()-[:INTRODUCED]->(s) }
UNWIND nodes(path) AS n
OPTIONAL MATCH (n)-[:MEMBER_OF]->(h:Household)
RETURN collect([n.id, n.code_name, h.id, h.district]) AS path;

// name: unvisited_households
// Active households never visited, longest waiting first (since they came in through an
// introduction, else since arrival), in one record.
MATCH (h:Household)
WHERE ($districts IS NULL OR h.district IN $districts)
  AND h.status = 'active' AND NOT EXISTS { (h)<-[:AT]-(:Visit) }
WITH h, coalesce(h.joined_on, h.arrived_on) AS waiting_since
ORDER BY waiting_since IS NULL, waiting_since, h.id
LIMIT $limit
CALL (h) {
  MATCH (h)<-[:MEMBER_OF]-(p:Person)
  WITH p ORDER BY p.id
  RETURN collect([p.id, p.code_name]) AS members
}
RETURN collect([h.id, h.code, h.district, h.arrived_on, h.joined_on, coalesce(h.wave, 0),
                members]) AS rows;

// name: map_stats
// Figures for the map's side panel over the households the map's filters keep (the same
// conditions as map_groups; $ids, when given, narrows them to those households: "around
// household X"): households per wave, introductions per month (into those households),
// the ten people of those households who introduced most, and how many of them came in
// through no introduction (roots: chain starters and households whose introducer is
// unknown) and how many of those started a chain.
CALL () {
  MATCH (h:Household)
  WHERE ($districts IS NULL OR h.district IN $districts)
    AND NOT coalesce(h.status, '') IN ['rejected', 'merged']
    AND ($ids IS NULL OR h.id IN $ids)
    AND ($chains IS NULL OR coalesce(h.chain, h.id) IN $chains)
    AND ($wave_min IS NULL OR coalesce(h.wave, 0) >= $wave_min)
    AND ($wave_max IS NULL OR coalesce(h.wave, 0) <= $wave_max)
    AND ($joined_since IS NULL OR h.joined_on >= $joined_since)
    AND ($joined_until IS NULL OR h.joined_on <= $joined_until)
    AND ($classes IS NULL OR
         CASE WHEN h.status = 'pending' THEN 'pending'
              WHEN h.status <> 'active' THEN 'closed'
              WHEN h.last_visit_on IS NULL THEN 'never'
              WHEN h.last_visit_on < $overdue_before THEN 'overdue'
              ELSE 'recent' END IN $classes)
  RETURN collect(h) AS kept
}
CALL (kept) {
  UNWIND kept AS h
  WITH coalesce(h.wave, 0) AS wave, count(*) AS n ORDER BY wave
  RETURN collect([wave, n]) AS waves
}
CALL (kept) {
  UNWIND kept AS h
  MATCH (h)<-[:MEMBER_OF]-(:Person)<-[r:INTRODUCED]-()
  WHERE r.on IS NOT NULL
  WITH substring(toString(r.on), 0, 7) AS month, count(*) AS n ORDER BY month
  RETURN collect([month, n]) AS months
}
CALL (kept) {
  UNWIND kept AS h
  MATCH (h)<-[:MEMBER_OF]-(p:Person)
  WITH p, COUNT { (p)-[:INTRODUCED]->() } AS n WHERE n > 0
  ORDER BY n DESC, p.id LIMIT 10
  RETURN collect([p.id, p.code_name, n]) AS top
}
CALL (kept) {
  UNWIND kept AS h
  WITH h WHERE h.parent IS NULL
  RETURN count(h) AS roots,
         sum(CASE WHEN EXISTS { MATCH (c:Household {parent: h.id}) } THEN 1 ELSE 0 END) AS chains
}
RETURN waves, months, top, roots, chains;

// name: map_districts
// The districts that hold households (an admin's district choices).
MATCH (h:Household)
RETURN DISTINCT h.district AS district ORDER BY district;
