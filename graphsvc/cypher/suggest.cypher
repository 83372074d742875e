// The visitor's suggestions (graphsvc/suggest.py): which households to visit next.
//
// A candidate for the visitor $username is a household
//   - in one of $districts, with status 'active',
//   - never visited, or last visited before $overdue_before (today - follow-up interval),
//     or whose follow-up date (of its latest visit) has come (h.follow_up_on <= $today),
//   - not women_only unless $gender = 'f',
//   - not held by a live claim of another visitor, not visited by $username since
//     $overdue_before, and not the visitor's own household.
// The same predicate is written out in both queries below; keep them alike.
//
// The visit summary (visit_summary_refresh) is stored on each household so that these
// queries read properties and indexes, never the visits of a candidate:
//   h.last_visit_on, h.follow_up_on, h.failed_attempts, h.unvisited_since.
// Indexes (cypher/schema.cypher): (district, unvisited_since), (district, last_visit_on),
// (district, follow_up_on), (district, arrived_on) on :Household; expires_at on :Claim.

// name: visit_summary_refresh
// The visit summary of the given households, derived from their visits: h.last_visit_on,
// h.follow_up_on (of the latest visit; of the larger visit id when two share the day),
// h.failed_attempts (visits with outcome not_home or refused after the latest 'met', or
// all of them when nobody was ever met), and for a household never visited
// h.unvisited_since: since when it waits (joined_on, else arrived_on, else 9999-12-31:
// unknown, counted as no wait), the key of the never-visited stream. Run it after every
// change to visits and after the chain index changed (joined_on). Idempotent.
UNWIND $ids AS id
MATCH (h:Household {id: id})
CALL (h) {
  OPTIONAL MATCH (h)<-[:AT]-(v:Visit)
  WITH v ORDER BY v.on DESC, v.id DESC
  RETURN collect(CASE WHEN v IS NOT NULL THEN [v.on, v.outcome, v.follow_up_on] END) AS visits
}
WITH h, visits, [x IN visits WHERE x[1] = 'met' | x[0]][0] AS last_met
SET h.last_visit_on = visits[0][0],
    h.follow_up_on = visits[0][2],
    h.failed_attempts = size([x IN visits WHERE x[1] IN ['not_home', 'refused']
                                            AND (last_met IS NULL OR x[0] > last_met)]),
    h.unvisited_since = CASE WHEN size(visits) = 0
                             THEN coalesce(h.joined_on, h.arrived_on, date('9999-12-31')) END
RETURN count(h) AS households;

// name: visit_summary_household_ids
// class: batch
// Every household id, for refreshing every visit summary in batches.
MATCH (h:Household)
RETURN collect(h.id) AS ids;

// name: suggest_warm
// class: heavy
// Warm candidates: candidates with a member within depth introductions (either direction)
// of one of the visitor's anchors: their own person (visited_on null) and the members of
// households where they met someone (visited_on: their latest such visit). depth is
// $hops, or 3 when the visitor has at most $deep_below anchors (a short walk all the way
// saves a round trip). For each household the shortest path is kept: from the visitor's
// own person first, then from the latest visit, then the smallest ids (of the anchor, then
// of the member: in a forest they fix the path).
// Only the $m households with the highest bound are returned, bound: what the score can
// be at most without its personal term (no failed attempt counted):
//   $hop_weights[hops] + $newcomer (arrived since $newcomer_since)
//   + $waiting * d / (d + $waiting_half_days), d = days since it became due.
// One record: anchors (how many), depth (explored up to), rows: [id, code, district,
// arrived_on, joined_on, last_visit_on, follow_up_on, failed_attempts, hops, visited_on,
// path [[person id, code_name, household id, household code, district, women_only]] from
// the anchor],
// best first; bound: the bound of the best household left out (null: none was).
OPTIONAL MATCH (u:User {username: $username})
CALL (u) {
  OPTIONAL MATCH (u)-[:IS]->(:Person)-[:MEMBER_OF]->(h:Household)
  RETURN collect(h.id) AS own
}
CALL () {
  OPTIONAL MATCH (c:Claim)
  WHERE c.expires_at > $now AND c.ended_at IS NULL AND c.username <> $username
  RETURN collect(c.household_id) AS claimed
}
CALL (u) {
  // what the visitor declined (an assignment given back with a reason) stays out of their
  // list for a while: suggested again at once, the decline meant nothing
  OPTIONAL MATCH (u)-[:CLAIMED]->(c:Claim)
  WHERE c.ended_by = 'decline' AND c.ended_at >= $declined_since
  RETURN collect(c.household_id) AS declined
}
CALL (u) {
  OPTIONAL MATCH (u)-[:MADE]->(v:Visit)-[:AT]->(h:Household)
  WITH h, max(v.on) AS last_mine, max(CASE WHEN v.outcome = 'met' THEN v.on END) AS last_met
  RETURN collect(CASE WHEN last_mine >= $overdue_before THEN h.id END) AS recent,
         collect(CASE WHEN last_met IS NOT NULL THEN [h, last_met] END) AS met
}
CALL (u) {
  OPTIONAL MATCH (u)-[:IS]->(a:Person)
  OPTIONAL MATCH (a)-[:MEMBER_OF]->(ah:Household)
  RETURN collect(CASE WHEN a IS NOT NULL THEN [a, ah, null] END) AS self
}
CALL (met) {
  UNWIND met AS x
  WITH x[0] AS ah, x[1] AS visited_on
  MATCH (ah)<-[:MEMBER_OF]-(a:Person)
  RETURN collect([a, ah, visited_on]) AS visited
}
WITH recent + own + claimed + declined AS excluded, self + visited AS anchors
WITH excluded, anchors,
     CASE WHEN size(anchors) <= $deep_below THEN 3 ELSE $hops END AS depth
CALL (excluded, anchors, depth) {
  CALL (anchors, depth) {
    UNWIND anchors AS anchor
    WITH anchor[0] AS a, anchor[1] AS ah, anchor[2] AS visited_on
    MATCH p = (a)-[:INTRODUCED]-(:Person)
    RETURN ah, visited_on, p
    UNION ALL
    WITH anchors WHERE depth >= 2
    UNWIND anchors AS anchor
    WITH anchor[0] AS a, anchor[1] AS ah, anchor[2] AS visited_on
    MATCH p = (a)-[:INTRODUCED*2]-(:Person)
    RETURN ah, visited_on, p
    UNION ALL
    WITH anchors WHERE depth >= 3
    UNWIND anchors AS anchor
    WITH anchor[0] AS a, anchor[1] AS ah, anchor[2] AS visited_on
    MATCH p = (a)-[:INTRODUCED*3]-(:Person)
    RETURN ah, visited_on, p
  }
  WITH excluded, ah, visited_on, p, last(nodes(p)) AS b
  MATCH (b)-[:MEMBER_OF]->(h:Household)
  WHERE h.district IN $districts AND h.status = 'active'
    AND (h.last_visit_on IS NULL OR h.last_visit_on < $overdue_before OR h.follow_up_on <= $today)
    AND ($gender = 'f' OR NOT coalesce(h.women_only, false))
    AND NOT h.id IN excluded
    AND (ah IS NULL OR h <> ah)
  WITH h, p, ah, visited_on, b
  ORDER BY h.id, length(p), visited_on IS NOT NULL, visited_on DESC, nodes(p)[0].id, b.id
  WITH h, head(collect([p, ah, visited_on])) AS best
  WITH h, best,
       CASE WHEN h.last_visit_on IS NULL THEN coalesce(h.joined_on, h.arrived_on)
            WHEN h.follow_up_on <= $today
                 AND (h.last_visit_on >= $overdue_before
                      OR h.follow_up_on < h.last_visit_on + duration({days: $follow_up_days}))
              THEN h.follow_up_on
            ELSE h.last_visit_on + duration({days: $follow_up_days}) END AS due
  WITH h, best,
       CASE WHEN due IS NULL OR due >= $today THEN 0 ELSE duration.inDays(due, $today).days END AS d
  WITH h, best,
       $hop_weights[length(best[0])]
       + CASE WHEN h.arrived_on >= $newcomer_since THEN $newcomer ELSE 0.0 END
       + $waiting * d / (d + $waiting_half_days) AS bound
  ORDER BY bound DESC, h.id
  LIMIT $m + 1
  WITH collect([h, best[0], best[1], best[2], bound]) AS top
  RETURN [x IN top[..$m] | [x[0].id, x[0].code, x[0].district, toString(x[0].arrived_on),
            toString(x[0].joined_on), toString(x[0].last_visit_on), toString(x[0].follow_up_on),
            coalesce(x[0].failed_attempts, 0), length(x[1]), toString(x[3]),
            [[nodes(x[1])[0].id, nodes(x[1])[0].code_name, x[2].id, x[2].code, x[2].district,
              coalesce(x[2].women_only, false)]]
            + [n IN nodes(x[1])[1..-1] | [n.id, n.code_name]
               + coalesce(head([(n)-[:MEMBER_OF]->(g:Household)
                                | [g.id, g.code, g.district, coalesce(g.women_only, false)]]),
                          [null, null, null, false])]
            + [[last(nodes(x[1])).id, last(nodes(x[1])).code_name, x[0].id, x[0].code,
                x[0].district, coalesce(x[0].women_only, false)]]]] AS rows,
         top[$m][4] AS bound
}
RETURN size(anchors) AS anchors, depth, rows, bound;

// name: suggest_candidates
// class: heavy
// Cold candidates in streams, per district in $districts: at most $k each of
//   never     - never visited, longest waiting first (h.unvisited_since)
//   overdue   - last visit before $overdue_before, oldest first (h.last_visit_on)
//   follow_up - follow-up date come, earliest first (h.follow_up_on)
//   newcomers - arrived since $newcomer_since, longest due first (due: when the
//               household became due a visit)
// Each stream reads its index in order and stops after $k candidates: a stream that
// returned $k rows may hold more, each due no earlier than its last row's key. Every
// candidate is in one of the first three streams. One record: streams [[district, never,
// overdue, follow_up, newcomers]], each row [id, code, district, arrived_on, joined_on,
// last_visit_on, follow_up_on, failed_attempts, key].
OPTIONAL MATCH (u:User {username: $username})
CALL (u) {
  OPTIONAL MATCH (u)-[:MADE]->(v:Visit)-[:AT]->(h:Household)
  WHERE v.on >= $overdue_before
  RETURN collect(DISTINCT h.id) AS recent
}
CALL (u) {
  OPTIONAL MATCH (u)-[:IS]->(:Person)-[:MEMBER_OF]->(h:Household)
  RETURN collect(h.id) AS own
}
CALL () {
  OPTIONAL MATCH (c:Claim)
  WHERE c.expires_at > $now AND c.ended_at IS NULL AND c.username <> $username
  RETURN collect(c.household_id) AS claimed
}
CALL (u) {
  // what the visitor declined (an assignment given back with a reason) stays out of their
  // list for a while: suggested again at once, the decline meant nothing
  OPTIONAL MATCH (u)-[:CLAIMED]->(c:Claim)
  WHERE c.ended_by = 'decline' AND c.ended_at >= $declined_since
  RETURN collect(c.household_id) AS declined
}
WITH recent + own + claimed + declined AS excluded
UNWIND $districts AS d
CALL (d, excluded) {
  MATCH (h:Household)
  WHERE h.district = d AND h.unvisited_since IS NOT NULL AND h.status = 'active'
    AND ($gender = 'f' OR NOT coalesce(h.women_only, false))
    AND NOT h.id IN excluded
  WITH h ORDER BY h.district, h.unvisited_since LIMIT $k
  RETURN collect([h.id, h.code, h.district, toString(h.arrived_on), toString(h.joined_on),
                  toString(h.last_visit_on), toString(h.follow_up_on),
                  coalesce(h.failed_attempts, 0), toString(h.unvisited_since)]) AS never
}
CALL (d, excluded) {
  MATCH (h:Household)
  WHERE h.district = d AND h.last_visit_on < $overdue_before AND h.status = 'active'
    AND ($gender = 'f' OR NOT coalesce(h.women_only, false))
    AND NOT h.id IN excluded
  WITH h ORDER BY h.district, h.last_visit_on LIMIT $k
  RETURN collect([h.id, h.code, h.district, toString(h.arrived_on), toString(h.joined_on),
                  toString(h.last_visit_on), toString(h.follow_up_on),
                  coalesce(h.failed_attempts, 0), toString(h.last_visit_on)]) AS overdue
}
CALL (d, excluded) {
  MATCH (h:Household)
  WHERE h.district = d AND h.follow_up_on <= $today AND h.status = 'active'
    AND ($gender = 'f' OR NOT coalesce(h.women_only, false))
    AND NOT h.id IN excluded
  WITH h ORDER BY h.district, h.follow_up_on LIMIT $k
  RETURN collect([h.id, h.code, h.district, toString(h.arrived_on), toString(h.joined_on),
                  toString(h.last_visit_on), toString(h.follow_up_on),
                  coalesce(h.failed_attempts, 0), toString(h.follow_up_on)]) AS follow_up
}
CALL (d, excluded) {
  MATCH (h:Household)
  WHERE h.district = d AND h.arrived_on >= $newcomer_since AND h.status = 'active'
    AND (h.last_visit_on IS NULL OR h.last_visit_on < $overdue_before OR h.follow_up_on <= $today)
    AND ($gender = 'f' OR NOT coalesce(h.women_only, false))
    AND NOT h.id IN excluded
  WITH h, CASE WHEN h.last_visit_on IS NULL THEN h.unvisited_since
               WHEN h.follow_up_on <= $today
                    AND (h.last_visit_on >= $overdue_before
                         OR h.follow_up_on < h.last_visit_on + duration({days: $follow_up_days}))
                 THEN h.follow_up_on
               ELSE h.last_visit_on + duration({days: $follow_up_days}) END AS due
  WITH h, due ORDER BY due, h.id LIMIT $k
  RETURN collect([h.id, h.code, h.district, toString(h.arrived_on), toString(h.joined_on),
                  toString(h.last_visit_on), toString(h.follow_up_on),
                  coalesce(h.failed_attempts, 0), toString(due)]) AS newcomers
}
RETURN collect([d, never, overdue, follow_up, newcomers]) AS streams;

// Test-only statements (tests/test_suggest.py). They belong in cypher/testing.cypher, the
// only file for test statements; they are here until that file's owner moves them.
