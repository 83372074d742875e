// Statements for tests/test_filestore.py: a record that names a stored file.

// name: test_file_record
CREATE (:TestFileRecord {id: $id, file_id: $file_id});

// name: test_file_records
MATCH (r:TestFileRecord)
RETURN r.id AS id, r.file_id AS file_id ORDER BY id;
