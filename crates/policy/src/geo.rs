//! Where a client address is: the `country` context attribute, and a location for the risk
//! engine's travel check.
//!
//! Two sources, from the `geo` configuration:
//! - a MaxMind DB file (`geo.mmdb`): a GeoIP2/GeoLite2 Country database gives the country, a
//!   City database also gives latitude and longitude. The whole file is checked when opened, so
//!   a corrupt database is refused at start-up instead of failing request by request;
//! - else a table of CIDR networks to country codes (`geo.cidr`), where the longest matching
//!   prefix wins. This suits private networks: `"10.1.0.0/16" = "FR"`.
//!
//! IPv4 addresses mapped into IPv6 (`::ffff:192.0.2.1`, as dual-stack sockets report them) are
//! looked up as IPv4.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use maxminddb::Reader;
use serde::Deserialize;

/// The largest database file accepted (a full GeoLite2 City is about 70 MB).
pub const MAX_MMDB_BYTES: u64 = 512 * 1024 * 1024;

/// What is known of an address's place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoFacts {
    /// ISO 3166-1 alpha-2 country code (`"GB"`).
    pub country: Option<String>,
    /// Latitude and longitude, in degrees (City databases only).
    pub location: Option<(f64, f64)>,
}

/// A geolocation source that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The database file could not be read.
    #[error("cannot read geo database `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database file is larger than [`MAX_MMDB_BYTES`].
    #[error("geo database `{path}` is larger than {MAX_MMDB_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// The database is not a valid MaxMind DB.
    #[error("geo database `{path}` is invalid: {message}")]
    InvalidDatabase {
        /// The file (or `<memory>`).
        path: String,
        /// What the reader found wrong.
        message: String,
    },
    /// A lookup failed on a damaged database.
    #[error("geo lookup of `{ip}` failed: {message}")]
    Lookup {
        /// The address.
        ip: IpAddr,
        /// What the reader found wrong.
        message: String,
    },
    /// A `geo.cidr` entry is not valid.
    #[error("geo.cidr entry `{network}` = `{country}` is not a cidr network and a two-letter country code")]
    BadCidr {
        /// The network as written.
        network: String,
        /// The country as written.
        country: String,
    },
}

/// Resolves client addresses to [`GeoFacts`]. Cheap to clone.
#[derive(Clone)]
pub struct GeoResolver(Source);

#[derive(Clone)]
enum Source {
    Mmdb(Arc<Reader<Vec<u8>>>),
    /// Sorted by prefix length, longest first.
    Cidr(Arc<Vec<(IpNet, String)>>),
}

impl std::fmt::Debug for GeoResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::Mmdb(reader) => f
                .debug_tuple("GeoResolver::Mmdb")
                .field(&reader.metadata().database_type)
                .finish(),
            Source::Cidr(table) => f
                .debug_tuple("GeoResolver::Cidr")
                .field(&table.len())
                .finish(),
        }
    }
}

/// The parts of a GeoIP2 Country or City record that Seawall reads; other fields are skipped
/// without being decoded.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<CountryRecord<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<CountryRecord<'a>>,
    #[serde(default)]
    location: Option<LocationRecord>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct LocationRecord {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

impl GeoResolver {
    /// The resolver the configuration asks for: the database when `mmdb` is set, else the
    /// CIDR table (which may be empty: every address is then of unknown country).
    pub fn from_config(
        mmdb: Option<&Path>,
        cidr: &BTreeMap<String, String>,
    ) -> Result<Self, GeoError> {
        match mmdb {
            Some(path) => Self::open_mmdb(path),
            None => Self::from_cidr(cidr),
        }
    }

    /// Opens and checks a MaxMind DB file.
    pub fn open_mmdb(path: &Path) -> Result<Self, GeoError> {
        let name = path.display().to_string();
        let read_error = |source| GeoError::Read {
            path: name.clone(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read_error)?.len();
        if len > MAX_MMDB_BYTES {
            return Err(GeoError::TooLarge { path: name });
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        Self::from_mmdb_bytes(bytes, &name)
    }

    /// Checks a MaxMind DB held in memory; `name` names it in errors.
    pub fn from_mmdb_bytes(bytes: Vec<u8>, name: &str) -> Result<Self, GeoError> {
        let invalid = |e: maxminddb::MaxMindDbError| GeoError::InvalidDatabase {
            path: name.to_owned(),
            message: e.to_string(),
        };
        let reader = Reader::from_source(bytes).map_err(invalid)?;
        // Walks the whole search tree and data section once, so that a corrupt file is refused
        // here rather than producing errors on some lookups later.
        reader.verify().map_err(invalid)?;
        Ok(Self(Source::Mmdb(Arc::new(reader))))
    }

    /// A resolver over a `geo.cidr` table (network to country code).
    pub fn from_cidr(table: &BTreeMap<String, String>) -> Result<Self, GeoError> {
        let mut entries = Vec::with_capacity(table.len());
        for (network, country) in table {
            let bad = || GeoError::BadCidr {
                network: network.clone(),
                country: country.clone(),
            };
            let net: IpNet = network.parse().map_err(|_| bad())?;
            if !is_country_code(country) {
                return Err(bad());
            }
            entries.push((net.trunc(), country.clone()));
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.0.prefix_len()));
        Ok(Self(Source::Cidr(Arc::new(entries))))
    }

    /// What is known of `ip`. A lookup that fails on a damaged database gives unknown facts;
    /// use [`try_lookup`](Self::try_lookup) to see the error.
    pub fn lookup(&self, ip: IpAddr) -> GeoFacts {
        self.try_lookup(ip).unwrap_or_default()
    }

    /// What is known of `ip`, or why the database could not say.
    pub fn try_lookup(&self, ip: IpAddr) -> Result<GeoFacts, GeoError> {
        let ip = ip.to_canonical();
        match &self.0 {
            Source::Cidr(table) => Ok(GeoFacts {
                country: table
                    .iter()
                    .find(|(net, _)| net.contains(&ip))
                    .map(|(_, country)| country.clone()),
                location: None,
            }),
            Source::Mmdb(reader) => lookup_mmdb(reader, ip),
        }
    }
}

fn lookup_mmdb(reader: &Reader<Vec<u8>>, ip: IpAddr) -> Result<GeoFacts, GeoError> {
    let failed = |e: maxminddb::MaxMindDbError| GeoError::Lookup {
        ip,
        message: e.to_string(),
    };
    let Some(record) = reader
        .lookup(ip)
        .map_err(failed)?
        .decode::<Record<'_>>()
        .map_err(failed)?
    else {
        return Ok(GeoFacts::default());
    };
    // The country where the address is used; failing that, where its block is registered.
    let country = [record.country, record.registered_country]
        .into_iter()
        .flatten()
        .find_map(|c| c.iso_code.filter(|code| is_country_code(code)))
        .map(str::to_owned);
    let location = record
        .location
        .and_then(|l| match (l.latitude, l.longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some((lat, lon))
            }
            _ => None,
        });
    Ok(GeoFacts { country, location })
}

fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}
