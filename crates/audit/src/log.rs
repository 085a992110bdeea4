//! The writer side: a cheap handle that queues entries, and one thread that chains and stores
//! them in batches.

use crate::chain::{stored_hash, Record, GENESIS};
use crate::AuditEntry;
use hmac::{Hmac, Mac};
use rand::RngCore;
use seawall_core::clock::SharedClock;
use seawall_core::seal::Sealer;
use seawall_store::{Store, StoreError};
use sha2::Sha256;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

/// How many entries may wait for the writer before `record` blocks its caller.
const QUEUE: usize = 65_536;
/// Most records appended in one transaction.
const BATCH: usize = 1024;
const HMAC_KEY_META: &str = "audit.hmac_key";
/// Where the keyed record of the last written record is kept.
const HEAD_META: &str = "audit.head";

/// The last record written, and a MAC over it under the audit key. Removing records from the
/// end of the chain leaves every remaining link intact; the head is what shows they existed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub mac: String,
}

impl Head {
    fn new(key: &Hmac<Sha256>, seq: i64, hash: &str) -> Self {
        Self {
            seq,
            hash: hash.to_string(),
            mac: head_mac(key, seq, hash),
        }
    }
}

fn head_mac(key: &Hmac<Sha256>, seq: i64, hash: &str) -> String {
    let mut mac = key.clone();
    mac.update(format!("audit-head:{seq}:{hash}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The stored head, as bytes. Read it before the records: a log that grows in between then
/// still verifies.
pub fn read_head(store: &dyn Store) -> Result<Option<Vec<u8>>, AuditError> {
    Ok(store.meta(HEAD_META)?)
}

/// Checks a head read with [`read_head`] against the chain that was verified (`records`
/// records ending in `last_hash`). Returns what is wrong, if anything.
pub fn check_head(
    store: &dyn Store,
    sealer: &Sealer,
    head: Option<Vec<u8>>,
    records: usize,
    last_hash: &str,
) -> Result<Option<String>, AuditError> {
    let key = load_hmac_key(store, sealer)?;
    let Some(raw) = head else {
        return Ok((records > 0).then(|| {
            "the log's head record is missing: the end of the log cannot be checked".to_string()
        }));
    };
    let Ok(head) = serde_json::from_slice::<Head>(&raw) else {
        return Ok(Some("the log's head record is corrupt".into()));
    };
    if head.mac != head_mac(&key, head.seq, &head.hash) {
        return Ok(Some("the log's head record was forged or edited".into()));
    }
    let last = i64::try_from(records).unwrap_or(i64::MAX);
    if head.seq > last {
        let which = match head.seq - last {
            1 => format!("record {}", head.seq),
            _ => format!("records {} to {}", last + 1, head.seq),
        };
        return Ok(Some(format!(
            "{which} removed from the end of the log (the head record names {})",
            head.seq
        )));
    }
    if head.seq == last && head.hash != last_hash {
        return Ok(Some(format!(
            "record {last} does not match the log's head record"
        )));
    }
    Ok(None)
}

/// Why the audit log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit HMAC key cannot be unsealed: {0}")]
    Key(#[from] seawall_core::seal::SealError),
    #[error("the audit writer has stopped")]
    WriterGone,
}

enum Msg {
    Entry(Box<AuditEntry>, i64),
    Flush(SyncSender<()>),
}

/// A handle to the audit log; clone it freely.
#[derive(Clone)]
pub struct AuditLog {
    tx: SyncSender<Msg>,
    hmac_key: Arc<Hmac<Sha256>>,
    clock: SharedClock,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

impl AuditLog {
    /// Opens the log on `store`, starting the writer thread.
    pub fn open(
        store: Arc<dyn Store>,
        sealer: &Sealer,
        clock: SharedClock,
    ) -> Result<Self, AuditError> {
        let hmac_key = load_hmac_key(store.as_ref(), sealer)?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let writer_key = hmac_key.clone();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(store, rx, writer_key))
            .map_err(|e| AuditError::Store(StoreError::Unavailable(e.to_string())))?;
        Ok(Self {
            tx,
            hmac_key: Arc::new(hmac_key),
            clock,
        })
    }

    /// Queues an entry; it is chained and stored within milliseconds.
    pub fn record(&self, entry: AuditEntry) {
        let time = self.clock.now_millis();
        if self.tx.send(Msg::Entry(Box::new(entry), time)).is_err() {
            tracing::error!("audit writer has stopped; an audit record was lost");
        }
    }

    /// Waits until everything queued so far is stored.
    pub fn flush(&self) -> Result<(), AuditError> {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        self.tx
            .send(Msg::Flush(done_tx))
            .map_err(|_| AuditError::WriterGone)?;
        done_rx.recv().map_err(|_| AuditError::WriterGone)
    }

    /// A keyed hash of `value`, for matching it later without storing it.
    pub fn hmac(&self, value: &str) -> String {
        let mut mac = (*self.hmac_key).clone();
        mac.update(value.as_bytes());
        let out = mac.finalize().into_bytes();
        format!("hmac:{}", hex::encode(out.get(..16).unwrap_or(&out)))
    }
}

fn load_hmac_key(store: &dyn Store, sealer: &Sealer) -> Result<Hmac<Sha256>, AuditError> {
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    let sealed = store.meta_init(HMAC_KEY_META, &sealer.seal(&fresh, HMAC_KEY_META))?;
    let key = sealer.open(&sealed, HMAC_KEY_META)?;
    // HMAC accepts keys of any length.
    Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| AuditError::Store(StoreError::Corrupt("audit hmac key".into())))
}

fn write_loop(store: Arc<dyn Store>, rx: Receiver<Msg>, key: Hmac<Sha256>) {
    while let Ok(first) = rx.recv() {
        let mut entries = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Entry(e, t) => entries.push((e, t)),
                Msg::Flush(done) => flushes.push(done),
            }
            next = if entries.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if let Some(head) = write_batch(store.as_ref(), &entries, &key) {
            let body = serde_json::to_vec(&head).unwrap_or_default();
            if let Err(e) = store.meta_put(HEAD_META, &body) {
                tracing::warn!(error = %e, "audit head update failed");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Appends a batch, retrying while the store is unavailable: an audit record is never dropped
/// because the database was briefly busy.
fn write_batch(
    store: &dyn Store,
    entries: &[(Box<AuditEntry>, i64)],
    key: &Hmac<Sha256>,
) -> Option<Head> {
    if entries.is_empty() {
        return None;
    }
    let mut delay = Duration::from_millis(50);
    loop {
        let mut items = entries.iter();
        let mut last = String::new();
        let result = store.audit_append(entries.len(), &mut |seq, prev| {
            let prev = prev.and_then(stored_hash).unwrap_or(GENESIS).to_string();
            let Some((entry, time)) = items.next() else {
                return String::new();
            };
            let body = Record {
                seq,
                time: *time,
                prev,
                entry: (**entry).clone(),
            }
            .seal();
            last = stored_hash(&body).unwrap_or_default().to_string();
            body
        });
        match result {
            Ok(seq) => return Some(Head::new(key, seq, &last)),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "audit append failed");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{verify, Outcome};
    use seawall_core::seal::DataKey;
    use seawall_core::SystemClock;
    use seawall_store::sqlite::SqliteStore;

    #[test]
    fn recorded_entries_form_a_valid_chain() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let sealer = Sealer::new(DataKey::generate());
        let log = AuditLog::open(store.clone(), &sealer, Arc::new(SystemClock)).unwrap();
        for i in 0..50 {
            log.record(AuditEntry::new("test.event", Outcome::Allow).detail("i", i));
        }
        log.flush().unwrap();
        let bodies: Vec<String> = store
            .audit_records(0, 1000)
            .unwrap()
            .into_iter()
            .map(|r| r.body)
            .collect();
        assert_eq!(bodies.len(), 50);
        let report = verify(&bodies);
        assert!(report.first_break.is_none(), "{:?}", report.first_break);
        let head = read_head(store.as_ref()).unwrap();
        assert_eq!(
            check_head(store.as_ref(), &sealer, head.clone(), 50, &report.head).unwrap(),
            None
        );

        // Cutting records off the end leaves an intact chain, but not a matching head.
        let short = verify(&bodies[..45]);
        assert!(short.first_break.is_none());
        let problem = check_head(store.as_ref(), &sealer, head, 45, &short.head)
            .unwrap()
            .unwrap();
        assert!(problem.contains("records 46 to 50 removed"), "{problem}");
    }

    #[test]
    fn hmac_is_stable_and_hides_the_value() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let sealer = Sealer::new(DataKey::generate());
        let log = AuditLog::open(store.clone(), &sealer, Arc::new(SystemClock)).unwrap();
        let again = AuditLog::open(store, &sealer, Arc::new(SystemClock)).unwrap();
        assert_eq!(log.hmac("tok"), again.hmac("tok"));
        assert!(!log.hmac("tok").contains("tok"));
    }
}
