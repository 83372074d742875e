// Visit photos (graphsvc/photos.py, issue 16 §5):
//   (:Photo {id, visit_id, household_id, uploader, uploaded_at, file_id, mime, width, height,
//            state ('unsanitized' | 'sanitized'), sanitized_file_id, sanitized_mime,
//            sanitized_by, sanitized_at, boxes})-[:OF]->(:Visit)
// The files themselves are encrypted under the state folder (graphsvc/filestore.py); the
// node holds only their random ids.

// name: photo_visit
// The visit a photo is uploaded to: its author, its household and when it was reported
// (one row whether it exists or not: a missing id costs what one out of reach costs).
OPTIONAL MATCH (u:User)-[:MADE]->(v:Visit {id: $visit_id})-[:AT]->(h:Household)
RETURN v IS NOT NULL AS exists, v.id AS id, u.username AS author, h.id AS household_id,
       v.on AS visited_on, v.reported_at AS reported_at;

// name: photo_visit_lock
// First statement of an upload: the visit's write lock (two uploads to one visit count
// one after the other), its author and how many photos it has.
MATCH (u:User)-[:MADE]->(v:Visit {id: $visit_id})-[:AT]->(h:Household)
SET v.photo_seq = coalesce(v.photo_seq, 0) + 1
RETURN v.id AS id, u.username AS author, h.id AS household_id,
       COUNT { (v)<-[:OF]-(:Photo) } AS photos;

// name: photo_create
MATCH (v:Visit {id: $visit_id})
CREATE (p:Photo {id: $id, visit_id: v.id, household_id: $household_id, uploader: $uploader,
                 uploaded_at: $now, file_id: $file_id, mime: $mime, width: $width, height: $height,
                 state: 'unsanitized'})-[:OF]->(v)
RETURN p.id AS id;

// name: photo_get
// One photo, with what the policy needs ($photo_id; one row whether it exists or not).
OPTIONAL MATCH (p:Photo {id: $photo_id})-[:OF]->(v:Visit)-[:AT]->(h:Household)
RETURN p IS NOT NULL AS exists, p.id AS id, v.id AS visit_id, h.id AS household_id, h.code AS household_code,
       p.uploader AS uploader, p.uploaded_at AS uploaded_at, p.state AS state, p.file_id AS file_id,
       p.mime AS mime, p.width AS width, p.height AS height, p.sanitized_file_id AS sanitized_file_id,
       p.sanitized_mime AS sanitized_mime, p.sanitized_by AS sanitized_by, p.sanitized_at AS sanitized_at,
       p.boxes AS boxes, v.on AS visited_on;

// name: photo_lock
// First statement of a sanitizing: the photo's write lock (two reviewers at once: one
// wins, the other finds it sanitized) and its state under the lock.
MATCH (p:Photo {id: $photo_id})
SET p.seq = coalesce(p.seq, 0) + 1
RETURN p.id AS id, p.state AS state;

// name: photo_set_sanitized
MATCH (p:Photo {id: $photo_id})
SET p.state = 'sanitized', p.sanitized_file_id = $file_id, p.sanitized_mime = $mime,
    p.sanitized_by = $username, p.sanitized_at = $now, p.boxes = $boxes
RETURN p.id AS id;

// name: photos_of_visit
MATCH (p:Photo)-[:OF]->(:Visit {id: $visit_id})
RETURN p.id AS id, p.uploader AS uploader, p.uploaded_at AS uploaded_at, p.state AS state,
       p.width AS width, p.height AS height, p.sanitized_by AS sanitized_by, p.sanitized_at AS sanitized_at
ORDER BY p.uploaded_at, p.id;

// name: photos_to_review
// Unsanitized photos of households in $districts (null: every district), oldest first.
MATCH (p:Photo {state: 'unsanitized'})-[:OF]->(v:Visit)-[:AT]->(h:Household)
WHERE $districts IS NULL OR h.district IN $districts
RETURN p.id AS id, v.id AS visit_id, h.id AS household_id, h.code AS household_code, h.district AS district,
       p.uploader AS uploader, p.uploaded_at AS uploaded_at, v.on AS visited_on
ORDER BY p.uploaded_at, p.id
LIMIT $limit;

// name: photo_household_identity
// The people of the photo's household (identity still encrypted) and its code: what a
// newsletter caption may not name.
MATCH (h:Household {id: $household_id})
OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
RETURN h.id AS household_id, h.code AS household_code,
       collect(CASE WHEN p IS NOT NULL THEN {id: p.id, code_name: p.code_name, legal_name: p.legal_name,
               phone: p.phone, address: p.address} END) AS people;

// name: photo_files_of_household
// Every stored file of the photos of a household's visits (erasure: shred them).
MATCH (p:Photo)-[:OF]->(:Visit)-[:AT]->(:Household {id: $household_id})
RETURN p.id AS id, p.file_id AS file_id, p.sanitized_file_id AS sanitized_file_id;

// name: photos_delete
MATCH (p:Photo) WHERE p.id IN $ids
DETACH DELETE p
RETURN count(*) AS deleted;
