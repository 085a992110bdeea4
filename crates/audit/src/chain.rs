//! The record format and the chain check.
//!
//! A record is one line of JSON: `{"seq":..,"time":..,"prev":"..",<entry fields>,"hash":".."}`.
//! `hash` is the hex SHA-256 of the record's exact bytes up to, not including, `,"hash"`,
//! closed with `}`; that text includes `prev`, the previous record's hash, and `seq`, which
//! counts from 1 without gaps. The first record's `prev` is [`GENESIS`].

use crate::AuditEntry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A chained record, as stored and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub time: i64,
    pub prev: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

impl Record {
    /// Serialises the record and appends its hash: the stored body.
    pub fn seal(&self) -> String {
        // Serialising a struct of plain fields into a String cannot fail.
        let unhashed = serde_json::to_string(self).unwrap_or_default();
        let hash = hex::encode(Sha256::digest(unhashed.as_bytes()));
        let open = unhashed.strip_suffix('}').unwrap_or(&unhashed);
        format!("{open},\"hash\":\"{hash}\"}}")
    }
}

/// The hash of a stored body: the value of its `hash` field, if it has one where expected.
pub(crate) fn stored_hash(body: &str) -> Option<&str> {
    let rest = body.strip_suffix("\"}")?;
    let (before, hash) = rest.rsplit_once(",\"hash\":\"")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !before.is_empty())
        .then_some(hash)
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// 1-based position of the offending record in what was checked (line number for a file).
    pub position: usize,
    /// The `seq` that record claims, when it could be read.
    pub seq: Option<i64>,
    /// One line saying what is wrong.
    pub message: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many records were checked before the first break (or in all).
    pub records: usize,
    /// The hash of the last good record.
    pub head: String,
    /// The first break, if any.
    pub first_break: Option<ChainBreak>,
}

/// Checks a sequence of stored bodies, in order, and reports the first break.
pub fn verify<I, S>(bodies: I) -> VerifyReport
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut prev_hash = GENESIS.to_string();
    let mut expected = 1i64;
    let mut count = 0usize;
    for (index, body) in bodies.into_iter().enumerate() {
        let position = index + 1;
        match check_one(body.as_ref(), expected, &prev_hash) {
            Ok((seq, hash)) => {
                prev_hash = hash;
                expected = seq + 1;
                count += 1;
            }
            Err((seq, message)) => {
                return VerifyReport {
                    records: count,
                    head: prev_hash,
                    first_break: Some(ChainBreak {
                        position,
                        seq,
                        message,
                    }),
                }
            }
        }
    }
    VerifyReport {
        records: count,
        head: prev_hash,
        first_break: None,
    }
}

type Break = (Option<i64>, String);

fn check_one(body: &str, expected: i64, prev_hash: &str) -> Result<(i64, String), Break> {
    let Some(hash) = stored_hash(body) else {
        return Err((
            None,
            "the record has no hash: it was edited or is not an audit record".into(),
        ));
    };
    let unhashed_len = body.len() - hash.len() - ",\"hash\":\"\"}".len();
    let unhashed = format!("{}}}", body.get(..unhashed_len).unwrap_or(""));
    let record: Record = serde_json::from_str(&unhashed).map_err(|e| {
        (
            None,
            format!("the record is not valid JSON ({e}): it was edited"),
        )
    })?;
    let seq = Some(record.seq);

    // The record's own hash covers every byte of it, including `seq` and `prev`.
    if hex::encode(Sha256::digest(unhashed.as_bytes())) != hash {
        return Err((
            seq,
            format!("record {} was edited: its hash does not match", record.seq),
        ));
    }
    if record.seq > expected {
        return Err((
            seq,
            format!(
                "record {expected} is missing (found {} next): it was removed or moved",
                record.seq
            ),
        ));
    }
    if record.seq < expected {
        return Err((
            seq,
            format!(
                "record {} appears again after record {}: records were inserted or reordered",
                record.seq,
                expected - 1
            ),
        ));
    }
    if record.prev != prev_hash {
        return Err((
            seq,
            format!(
                "record {} does not follow the record before it: a record was replaced",
                record.seq
            ),
        ));
    }
    Ok((record.seq, hash.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    fn chain(n: i64) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let body = Record {
                    seq,
                    time: 1000 + seq,
                    prev: prev.clone(),
                    entry: AuditEntry::new("signin.password", Outcome::Success).actor("alice"),
                }
                .seal();
                prev = stored_hash(&body).unwrap().to_string();
                body
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        let report = verify(chain(5));
        assert_eq!(report.records, 5);
        assert!(report.first_break.is_none());
    }

    #[test]
    fn one_changed_byte_names_the_record() {
        let mut c = chain(5);
        c[2] = c[2].replace("alice", "alicf");
        let b = verify(&c).first_break.unwrap();
        assert_eq!((b.position, b.seq), (3, Some(3)));
        assert!(b.message.contains("edited"), "{}", b.message);
    }

    #[test]
    fn deleted_record_is_named() {
        let mut c = chain(5);
        c.remove(1);
        let b = verify(&c).first_break.unwrap();
        assert_eq!(b.position, 2);
        assert!(b.message.contains("record 2 is missing"), "{}", b.message);
    }

    #[test]
    fn reordered_and_inserted_records_are_found() {
        let mut c = chain(4);
        c.swap(1, 2);
        assert_eq!(verify(&c).first_break.unwrap().position, 2);
        let mut c = chain(4);
        let dup = c[1].clone();
        c.insert(2, dup);
        let b = verify(&c).first_break.unwrap();
        assert_eq!(b.position, 3);
        assert!(b.message.contains("inserted"), "{}", b.message);
    }

    #[test]
    fn rehashed_forgery_without_prev_fails() {
        let mut c = chain(3);
        // A forger rewrites record 2 and recomputes its own hash, but record 3 still points at
        // the original.
        let forged = Record {
            seq: 2,
            time: 1,
            prev: stored_hash(&c[0]).unwrap().to_string(),
            entry: AuditEntry::new("signin.password", Outcome::Failure),
        }
        .seal();
        c[1] = forged;
        let b = verify(&c).first_break.unwrap();
        assert_eq!(b.seq, Some(3));
    }

    #[test]
    fn garbage_lines_do_not_panic() {
        for junk in [
            "",
            "{",
            "}\"",
            ",\"hash\":\"\"}",
            "{\"hash\":\"zz\"}",
            "\u{0}",
        ] {
            assert!(verify([junk]).first_break.is_some(), "{junk:?}");
        }
    }
}
