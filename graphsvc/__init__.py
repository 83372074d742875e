"""graphsvc: the introduction (referral) network of a ministry's visitation work.

The core library: configuration, the Neo4j connection and named Cypher, the local
Neo4j provisioning, CSV import/export and the demo generator. It imports no Flask.
"""

__version__ = "0.1.0"
