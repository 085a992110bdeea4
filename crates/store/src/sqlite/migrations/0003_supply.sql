-- SBOMs stored per project and version, and the findings matched against them.
CREATE TABLE sboms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    purls TEXT NOT NULL,
    document TEXT NOT NULL,
    UNIQUE (project, version)
);

CREATE TABLE findings (
    sbom_id INTEGER NOT NULL REFERENCES sboms (id) ON DELETE CASCADE,
    advisory_id TEXT NOT NULL,
    purl TEXT NOT NULL,
    severity TEXT NOT NULL,
    detail TEXT NOT NULL,
    found_at INTEGER NOT NULL,
    PRIMARY KEY (sbom_id, advisory_id, purl)
);
