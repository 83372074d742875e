// What a newly started local server runs once it answers (graphsvc/neo4j_local.py _warm):
// a new JVM takes seconds over its first Cypher statements (the parser, planner and
// runtime are loaded and compiled then), which would otherwise fall on the first request
// the web app sends after a restart. Reads and writes nothing that exists.

// name: warm_up_return
RETURN 1 AS n;

// name: warm_up_match
MATCH (h:Household {id: $id}) RETURN h.id AS id;

// name: warm_up_members
MATCH (p:Person)-[:MEMBER_OF]->(h:Household)
WHERE h.id IN $ids
RETURN count(p) AS n;

// name: warm_up_write
UNWIND $rows AS row
MERGE (w:WarmUp {id: row})
ON CREATE SET w.at = 1
WITH w
DETACH DELETE w
RETURN count(*) AS n;
