// The stored files each record names (graphsvc/filestore.py OWNERS): for `graphsvc keys
// rotate`, which seals them under the current key again. Each row: the file's id, the kind
// it is sealed for and the record's id (Keyring.encrypt_bytes(data, kind, record_id, "file")).
// The shapes are the photos' (graphsvc/photos.py: the original "Photo" and the sanitized
// variant "PhotoSanitized", bound to the photo's id) and the receipts'
// (graphsvc/expenses.py: "receipt", bound to the receipt's id).

// name: stored_files_photos
MATCH (p:Photo)
WHERE p.file_id IS NOT NULL
RETURN p.file_id AS file_id, 'Photo' AS kind, p.id AS record_id
UNION ALL
MATCH (p:Photo)
WHERE p.sanitized_file_id IS NOT NULL
RETURN p.sanitized_file_id AS file_id, 'PhotoSanitized' AS kind, p.id AS record_id;

// name: stored_files_receipts
MATCH (r:Receipt)
WHERE r.file_id IS NOT NULL
RETURN r.file_id AS file_id, 'receipt' AS kind, r.id AS record_id;
