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
