use super::{query, SqliteStore};
use crate::{AuditRepo, StoreError, StoredAuditRecord};
use rusqlite::OptionalExtension;

impl AuditRepo for SqliteStore {
    fn audit_append(
        &self,
        count: usize,
        build: &mut dyn FnMut(i64, Option<&str>) -> String,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading the tail, so two writers (even in two
        // processes sharing the file) cannot both chain onto the same record.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(query)?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, body FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(query)?;
        let mut seq = last.as_ref().map_or(0, |(s, _)| *s);
        let mut prev = last.map(|(_, b)| b);
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO audit_log (seq, body) VALUES (?1, ?2)")
                .map_err(query)?;
            for _ in 0..count {
                seq += 1;
                let body = build(seq, prev.as_deref());
                insert
                    .execute(rusqlite::params![seq, body])
                    .map_err(query)?;
                prev = Some(body);
            }
        }
        tx.commit().map_err(query)?;
        Ok(seq)
    }

    fn audit_records(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredAuditRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT seq, body FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(query)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(rusqlite::params![after, limit], |r| {
                Ok(StoredAuditRecord {
                    seq: r.get(0)?,
                    body: r.get(1)?,
                })
            })
            .map_err(query)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(query)
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::SqliteStore;
    use crate::{AuditRepo, MetaRepo};

    #[test]
    fn audit_records_chain_in_order() {
        let s = SqliteStore::open_in_memory().unwrap();
        for i in 0..2 {
            s.audit_append(i + 1, &mut |seq, prev| {
                format!("{seq}:{}", prev.unwrap_or("-"))
            })
            .unwrap();
        }
        let recs = s.audit_records(0, 10).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[2].body, "3:2:1:-");
    }

    #[test]
    fn meta_init_keeps_the_first_value() {
        let s = SqliteStore::open_in_memory().unwrap();
        assert_eq!(s.meta_init("k", b"a").unwrap(), b"a");
        assert_eq!(s.meta_init("k", b"b").unwrap(), b"a");
        assert_eq!(s.meta("k").unwrap().unwrap(), b"a");
        assert!(s.meta("missing").unwrap().is_none());
    }

    #[test]
    fn reopening_a_file_keeps_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        SqliteStore::open(&path)
            .unwrap()
            .meta_init("k", b"v")
            .unwrap();
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.meta("k").unwrap().unwrap(), b"v");
    }
}
