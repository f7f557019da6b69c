//! How values are kept in rows, the same in every engine: object timestamps as microseconds
//! since the epoch and the nanoseconds below them, a version's observable keys as one blob,
//! content hashes as 32 bytes.

use stix::Timestamp;

use crate::model::{ContentHash, ObservableKey};
use crate::StoreError;

/// Microseconds since the epoch (the nanoseconds below are [`sub_micro`]).
pub fn micros(t: &Timestamp) -> i64 {
    t.unix_seconds() * 1_000_000 + i64::from(t.subsec_nanos() / 1_000)
}

/// The nanoseconds below the microsecond.
pub fn sub_micro(t: &Timestamp) -> i64 {
    i64::from(t.subsec_nanos() % 1_000)
}

/// The timestamp of [`micros`] and [`sub_micro`].
pub fn from_micros(us: i64, ns: i64) -> Timestamp {
    let nanos = us.rem_euclid(1_000_000) * 1_000 + ns.clamp(0, 999);
    Timestamp::from_unix(us.div_euclid(1_000_000), nanos as u32)
}

/// A version's observable keys as one blob: each key after its length (u32, little-endian).
pub fn encode_keys(keys: &[ObservableKey]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut k = Vec::new();
    for key in keys {
        k.clear();
        key.encode(&mut k);
        let len = u32::try_from(k.len()).expect("an observable key under 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&k);
    }
    out
}

/// The keys of an [`encode_keys`] blob.
pub fn decode_keys(mut b: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let key = b.get(4..4 + len)?;
        b = &b[4 + len..];
        Some(key)
    })
}

/// A stored content hash.
pub fn content_hash(column: Option<Vec<u8>>) -> Result<Option<ContentHash>, StoreError> {
    column
        .map(|h| {
            h.try_into()
                .map_err(|_| StoreError::Corrupt("content hash of the wrong length".into()))
        })
        .transpose()
}
