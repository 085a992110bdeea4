use super::{query, SqliteStore};
use crate::vault::{VaultOp, VaultRepo};
use crate::StoreError;
use rusqlite::OptionalExtension;

impl VaultRepo for SqliteStore {
    fn vault_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.reader()
            .prepare_cached("SELECT value FROM vault_entries WHERE key = ?1")
            .map_err(query)?
            .query_row([key], |r| r.get(0))
            .optional()
            .map_err(query)
    }

    fn vault_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached("SELECT key FROM vault_entries WHERE key >= ?1 ORDER BY key")
            .map_err(query)?;
        let mut rows = stmt.query([prefix]).map_err(query)?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next().map_err(query)? {
            let key: String = row.get(0).map_err(query)?;
            if !key.starts_with(prefix) {
                break;
            }
            keys.push(key);
        }
        Ok(keys)
    }

    fn vault_write(&self, ops: &[VaultOp]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query)?;
        for op in ops {
            match op {
                VaultOp::Put(key, value) => tx
                    .prepare_cached(
                        "INSERT INTO vault_entries (key, value) VALUES (?1, ?2)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )
                    .and_then(|mut s| s.execute(rusqlite::params![key, value]))
                    .map_err(query)?,
                VaultOp::Delete(key) => tx
                    .prepare_cached("DELETE FROM vault_entries WHERE key = ?1")
                    .and_then(|mut s| s.execute([key]))
                    .map_err(query)?,
            };
        }
        tx.commit().map_err(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_atomic_and_keys_are_listed_by_prefix() {
        let s = SqliteStore::open_in_memory().unwrap();
        s.vault_write(&[
            VaultOp::Put("a/1".into(), b"x".to_vec()),
            VaultOp::Put("a/2".into(), b"y".to_vec()),
            VaultOp::Put("b/1".into(), b"z".to_vec()),
        ])
        .unwrap();
        assert_eq!(s.vault_keys("a/").unwrap(), vec!["a/1", "a/2"]);
        assert_eq!(s.vault_get("a/2").unwrap().unwrap(), b"y");
        s.vault_write(&[
            VaultOp::Delete("a/1".into()),
            VaultOp::Delete("nope".into()),
        ])
        .unwrap();
        assert_eq!(s.vault_keys("a").unwrap(), vec!["a/2"]);
        assert_eq!(s.vault_keys("").unwrap().len(), 2);
    }

    #[test]
    fn reads_on_a_file_database_see_every_committed_write() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("v.db")).unwrap();
        assert!(!s.readers.is_empty());
        for i in 0..50u8 {
            s.vault_write(&[VaultOp::Put(format!("k/{i}"), vec![i])])
                .unwrap();
            assert_eq!(s.vault_get(&format!("k/{i}")).unwrap(), Some(vec![i]));
            assert_eq!(s.vault_keys("k/").unwrap().len(), usize::from(i) + 1);
        }
        s.vault_write(&[VaultOp::Delete("k/0".into())]).unwrap();
        assert_eq!(s.vault_get("k/0").unwrap(), None);
    }
}
