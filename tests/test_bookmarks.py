"""One bookmark manager for every session of a process (issue 14 §5): on a cluster or Aura
(``neo4j://`` routing), a read that follows a write sees it, whether the write went through
a managed transaction (``write_tx``) or ``execute_query`` (``write``), and whichever of them
the read uses. `make test-routing` runs part of the suite through a neo4j:// URI."""

from __future__ import annotations

from graphsvc.db import Database


def test_every_session_shares_the_process_bookmarks(db: Database):
    assert db.bookmarks is db.driver.execute_query_bookmark_manager
    before = set(db.bookmarks.get_bookmarks())
    db.write_tx(lambda tx: tx.run("CREATE (:BookmarkProbe {n: 1})").consume())
    after_tx = set(db.bookmarks.get_bookmarks())
    assert after_tx and after_tx != before  # a session's commit reached the shared manager
    db.write("test_write_probe", text="bookmark")
    after_query = set(db.bookmarks.get_bookmarks())
    assert after_query and after_query != after_tx  # and so did execute_query's
    with db.session() as session:
        assert session._config.bookmark_manager is db.bookmarks  # reads wait for both
