// Statements for tests/test_filestore.py: a record that names a stored file.

// name: test_file_record
CREATE (:TestFileRecord {id: $id, file_id: $file_id});

// name: test_file_records
MATCH (r:TestFileRecord)
RETURN r.id AS id, r.file_id AS file_id ORDER BY id;

// name: test_file_owners
// The shape of an owner statement (filestore.register_owner): every stored file of a record.
MATCH (r:TestFileRecord)
RETURN r.file_id AS file_id, 'Photo' AS kind, r.id AS record_id;

// name: test_file_owner_shapes
// A photo with both variants and a receipt, shaped as graphsvc/photos.py and expenses.py store them.
CREATE (:Photo {id: $photo_id, file_id: $original, sanitized_file_id: $sanitized})
CREATE (:Receipt {id: $receipt_id, file_id: $receipt});
