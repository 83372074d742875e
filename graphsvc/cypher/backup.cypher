// Backup and restore (graphsvc/backup.py).

// name: backup_contents
// What a database holds, for a backup's manifest and for restore's "is the target empty?":
// every node and relationship, the audit events among them.
CALL () { MATCH (n) RETURN count(n) AS nodes }
CALL () { MATCH ()-[r]->() RETURN count(r) AS relationships }
CALL () { MATCH (e:AuditEvent) RETURN count(e) AS audit_events }
RETURN nodes, relationships, audit_events;
