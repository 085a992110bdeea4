-- The vault's sealed key-value entries (see store::vault).
CREATE TABLE vault_entries (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;
