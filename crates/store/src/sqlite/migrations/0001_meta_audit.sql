CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
