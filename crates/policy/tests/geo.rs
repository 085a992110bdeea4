//! Geolocation from MaxMind's test databases and from a CIDR table.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use seawall_policy::geo::{GeoError, GeoResolver};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/geo")
        .join(name)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn country_database_gives_countries_and_no_location() {
    let geo = GeoResolver::open_mmdb(&fixture("GeoLite2-Country-Test.mmdb")).unwrap();
    let facts = geo.lookup(ip("81.2.69.142"));
    assert_eq!(facts.country.as_deref(), Some("GB"));
    assert_eq!(facts.location, None);
    assert_eq!(geo.lookup(ip("50.114.0.1")).country.as_deref(), Some("US"));
}

#[test]
fn city_database_also_gives_a_location() {
    let geo = GeoResolver::open_mmdb(&fixture("GeoIP2-City-Test.mmdb")).unwrap();
    let facts = geo.lookup(ip("81.2.69.142"));
    assert_eq!(facts.country.as_deref(), Some("GB"));
    let (lat, lon) = facts.location.unwrap();
    // London, in MaxMind's test data.
    assert!(
        (51.0..52.0).contains(&lat) && (-1.0..1.0).contains(&lon),
        "{lat} {lon}"
    );
}

#[test]
fn ipv4_mapped_ipv6_address_is_looked_up_as_ipv4() {
    let geo = GeoResolver::open_mmdb(&fixture("GeoLite2-Country-Test.mmdb")).unwrap();
    assert_eq!(
        geo.lookup(ip("::ffff:81.2.69.142")).country.as_deref(),
        Some("GB")
    );
}

#[test]
fn address_not_in_the_database_has_no_country() {
    let geo = GeoResolver::open_mmdb(&fixture("GeoLite2-Country-Test.mmdb")).unwrap();
    for addr in ["127.0.0.1", "10.0.0.1", "::1"] {
        assert_eq!(geo.try_lookup(ip(addr)).unwrap().country, None, "{addr}");
    }
}

#[test]
fn broken_databases_are_refused_without_panicking() {
    for name in [
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "MaxMind-DB-test-broken-pointers-24.mmdb",
    ] {
        match GeoResolver::open_mmdb(&fixture(name)) {
            Err(GeoError::InvalidDatabase { path, message }) => {
                assert!(path.ends_with(name));
                assert!(!message.is_empty());
            }
            other => panic!("{name}: expected an invalid database, got {other:?}"),
        }
    }
}

#[test]
fn garbage_and_truncated_databases_are_refused() {
    let good = std::fs::read(fixture("GeoLite2-Country-Test.mmdb")).unwrap();
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not a database".to_vec(),
        good[..good.len() / 2].to_vec(),
        good[good.len() / 2..].to_vec(),
    ];
    for bytes in cases {
        assert!(GeoResolver::from_mmdb_bytes(bytes, "x.mmdb").is_err());
    }
}

#[test]
fn database_with_flipped_bytes_never_panics() {
    let good = std::fs::read(fixture("GeoIP2-City-Test.mmdb")).unwrap();
    // Corrupt one byte at a time across the file; open and lookups must return, not panic.
    for position in (0..good.len()).step_by(97) {
        let mut bytes = good.clone();
        bytes[position] ^= 0xA5;
        if let Ok(geo) = GeoResolver::from_mmdb_bytes(bytes, "flipped.mmdb") {
            for addr in ["81.2.69.142", "2001:218::1", "89.160.20.128"] {
                let _ = geo.try_lookup(ip(addr));
            }
        }
    }
}

#[test]
fn missing_database_is_a_read_error() {
    let err = GeoResolver::open_mmdb(&fixture("absent.mmdb")).unwrap_err();
    assert!(matches!(err, GeoError::Read { .. }));
    assert!(
        err.to_string().starts_with("cannot read geo database `"),
        "{err}"
    );
}

#[test]
fn cidr_table_longest_prefix_wins() {
    let table = BTreeMap::from([
        ("10.0.0.0/8".to_string(), "FR".to_string()),
        ("10.1.0.0/16".to_string(), "DE".to_string()),
        ("10.1.2.3/32".to_string(), "IT".to_string()),
        ("2001:db8::/32".to_string(), "NL".to_string()),
    ]);
    let geo = GeoResolver::from_config(None, &table).unwrap();
    assert_eq!(geo.lookup(ip("10.9.9.9")).country.as_deref(), Some("FR"));
    assert_eq!(geo.lookup(ip("10.1.9.9")).country.as_deref(), Some("DE"));
    assert_eq!(geo.lookup(ip("10.1.2.3")).country.as_deref(), Some("IT"));
    assert_eq!(
        geo.lookup(ip("::ffff:10.1.2.3")).country.as_deref(),
        Some("IT")
    );
    assert_eq!(geo.lookup(ip("2001:db8::5")).country.as_deref(), Some("NL"));
    assert_eq!(geo.lookup(ip("192.0.2.1")).country, None);
}

#[test]
fn bad_cidr_entries_are_refused() {
    for (net, country) in [
        ("10.0.0.0/33", "FR"),
        ("ten", "FR"),
        ("10.0.0.0/8", "fr"),
        ("10.0.0.0/8", "FRA"),
    ] {
        let table = BTreeMap::from([(net.to_string(), country.to_string())]);
        let err = GeoResolver::from_cidr(&table).unwrap_err();
        assert!(err.to_string().contains(&format!("`{net}`")), "{err}");
    }
}

#[test]
fn configured_database_takes_precedence_over_the_table() {
    let table = BTreeMap::from([("81.0.0.0/8".to_string(), "FR".to_string())]);
    let geo =
        GeoResolver::from_config(Some(&fixture("GeoLite2-Country-Test.mmdb")), &table).unwrap();
    assert_eq!(geo.lookup(ip("81.2.69.142")).country.as_deref(), Some("GB"));
}
