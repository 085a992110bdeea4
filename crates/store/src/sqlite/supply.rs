use super::{query, SqliteStore};
use crate::{FindingRow, SbomRow, StoreError, SupplyRepo};

impl SupplyRepo for SqliteStore {
    fn sbom_put(
        &self,
        project: &str,
        version: &str,
        purls: &[String],
        document: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let purls = serde_json::to_string(purls).map_err(|e| StoreError::Query(e.to_string()))?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query)?;
        // Deleting first drops the old version's findings with it (ON DELETE CASCADE).
        tx.execute(
            "DELETE FROM sboms WHERE project = ?1 AND version = ?2",
            rusqlite::params![project, version],
        )
        .map_err(query)?;
        tx.execute(
            "INSERT INTO sboms (project, version, created_at, purls, document)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![project, version, now, purls, document],
        )
        .map_err(query)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(query)?;
        Ok(id)
    }

    fn sboms(&self) -> Result<Vec<SbomRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id, project, version, created_at, purls FROM sboms ORDER BY id")
            .map_err(query)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(query)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, project, version, created_at, purls) = row.map_err(query)?;
            let purls = serde_json::from_str(&purls)
                .map_err(|e| StoreError::Corrupt(format!("sbom {id} purls: {e}")))?;
            out.push(SbomRow {
                id,
                project,
                version,
                created_at,
                purls,
            });
        }
        Ok(out)
    }

    fn finding_put(
        &self,
        sbom_id: i64,
        advisory_id: &str,
        purl: &str,
        severity: &str,
        detail: &serde_json::Value,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "INSERT INTO findings (sbom_id, advisory_id, purl, severity, detail, found_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (sbom_id, advisory_id, purl) DO NOTHING",
                rusqlite::params![
                    sbom_id,
                    advisory_id,
                    purl,
                    severity,
                    detail.to_string(),
                    now
                ],
            )
            .map_err(query)?;
        Ok(n == 1)
    }

    fn findings(&self, project: Option<&str>) -> Result<Vec<FindingRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT s.project, s.version, f.advisory_id, f.purl, f.severity, f.detail,
                        f.found_at
                 FROM findings f JOIN sboms s ON s.id = f.sbom_id
                 WHERE ?1 IS NULL OR s.project = ?1
                 ORDER BY f.found_at DESC, s.project, f.advisory_id, f.purl",
            )
            .map_err(query)?;
        let rows = stmt
            .query_map([project], |r| {
                let detail: String = r.get(5)?;
                Ok(FindingRow {
                    project: r.get(0)?,
                    version: r.get(1)?,
                    advisory_id: r.get(2)?,
                    purl: r.get(3)?,
                    severity: r.get(4)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    found_at: r.get(6)?,
                })
            })
            .map_err(query)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(query)
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::SqliteStore;
    use crate::SupplyRepo;

    #[test]
    fn replacing_an_sbom_version_drops_its_findings_and_findings_are_recorded_once() {
        let s = SqliteStore::open_in_memory().unwrap();
        let purls = vec!["pkg:cargo/a@1.0.0".to_string()];
        let id = s.sbom_put("p", "1", &purls, "{}", 10).unwrap();
        let d = serde_json::json!({"x": 1});
        assert!(s
            .finding_put(id, "RUSTSEC-1", &purls[0], "high", &d, 11)
            .unwrap());
        assert!(!s
            .finding_put(id, "RUSTSEC-1", &purls[0], "high", &d, 12)
            .unwrap());
        assert_eq!(s.findings(Some("p")).unwrap().len(), 1);
        assert!(s.findings(Some("other")).unwrap().is_empty());
        let id2 = s.sbom_put("p", "1", &purls, "{}", 20).unwrap();
        assert_ne!(id, id2);
        assert!(s.findings(None).unwrap().is_empty());
        assert_eq!(s.sboms().unwrap()[0].purls, purls);
    }
}
