// Questions about the server and the database as a whole.

// name: server_components
CALL dbms.components() YIELD name, versions, edition
RETURN name, versions, edition;

// name: graph_counts
// How much the database holds, by kind; an empty database answers zeros.
CALL () { MATCH (h:Household) RETURN count(h) AS households }
CALL () { MATCH (p:Person) RETURN count(p) AS people }
CALL () { MATCH (:Person)-[r:INTRODUCED]->(:Person) RETURN count(r) AS introductions }
CALL () { MATCH (v:Visit) RETURN count(v) AS visits }
CALL () { MATCH (u:User) RETURN count(u) AS users }
RETURN households, people, introductions, visits, users;

// name: wipe_all
// Delete every node and relationship, in batches (tests and benchmarks only; needs an
// auto-commit transaction).
MATCH (n)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS;

// name: snapshot
// The whole graph as sorted lists of labels, properties and (start, type, end, properties),
// so that two states can be compared for equality (tests: "nothing changed").
CALL () {
  MATCH (n)
  WITH n ORDER BY labels(n)[0], coalesce(n.id, n.username)
  RETURN collect([labels(n), properties(n)]) AS nodes
}
CALL () {
  MATCH (a)-[r]->(b)
  WITH a, r, b ORDER BY coalesce(a.id, a.username), type(r), coalesce(b.id, b.username)
  RETURN collect([coalesce(a.id, a.username), type(r), coalesce(b.id, b.username), properties(r)]) AS rels
}
RETURN nodes, rels;
