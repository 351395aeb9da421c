-- Leases: a job that one node of several should do at a time (asking a
-- processor about a payment a dead node left processing; ending a dead
-- node's payments) is done by the node that holds its lease, until the
-- lease's time ends.

CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  TEXT NOT NULL
) STRICT;
