//! Transparent compression of stored blobs: payloads above [`COMPRESS_ABOVE`] bytes are stored
//! LZ4-compressed (pure Rust `lz4_flex`), smaller ones as they are.
//!
//! Every stored blob starts with a one-byte tag so either form decodes without outside
//! knowledge. Decoding is bounded by [`MAX_DECODED`] so a damaged length cannot make us
//! allocate without limit; malformed blobs are [`Error::Corrupt`], never a panic.

use crate::Error;

/// Blobs longer than this are compressed (when compression saves space).
pub const COMPRESS_ABOVE: usize = 4 * 1024;

/// The largest blob [`decode`] inflates to: 256 MiB.
pub const MAX_DECODED: usize = 256 * 1024 * 1024;

const TAG_RAW: u8 = 0;
const TAG_LZ4: u8 = 1;

/// Encodes a blob for storage.
pub fn encode(data: &[u8]) -> Vec<u8> {
    if data.len() > COMPRESS_ABOVE
        && let Ok(len) = u32::try_from(data.len())
    {
        let compressed = lz4_flex::block::compress(data);
        if compressed.len() + 5 < data.len() {
            let mut out = Vec::with_capacity(compressed.len() + 5);
            out.push(TAG_LZ4);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&compressed);
            return out;
        }
    }
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(TAG_RAW);
    out.extend_from_slice(data);
    out
}

/// Decodes a blob made by [`encode`].
pub fn decode(stored: &[u8]) -> Result<Vec<u8>, Error> {
    match stored.split_first() {
        Some((&TAG_RAW, rest)) => Ok(rest.to_vec()),
        Some((&TAG_LZ4, rest)) => {
            let (len, body) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| Error::Corrupt("truncated compressed blob".to_owned()))?;
            let len = usize::try_from(u32::from_le_bytes(*len))
                .map_err(|_| Error::Corrupt("compressed blob too large".to_owned()))?;
            if len > MAX_DECODED {
                return Err(Error::Corrupt(format!(
                    "compressed blob claims {len} bytes, over the {MAX_DECODED} byte limit"
                )));
            }
            let out = lz4_flex::block::decompress(body, len)
                .map_err(|err| Error::Corrupt(format!("compressed blob: {err}")))?;
            if out.len() != len {
                return Err(Error::Corrupt("compressed blob length mismatch".to_owned()));
            }
            Ok(out)
        }
        Some((tag, _)) => Err(Error::Corrupt(format!("unknown blob tag {tag}"))),
        None => Err(Error::Corrupt("empty blob".to_owned())),
    }
}

/// Encodes a JSON value for storage.
pub fn encode_json(value: &serde_json::Value) -> Result<Vec<u8>, Error> {
    let text = serde_json::to_vec(value)
        .map_err(|err| Error::InvalidArgument(format!("unserializable JSON: {err}")))?;
    Ok(encode(&text))
}

/// Decodes a JSON value made by [`encode_json`].
pub fn decode_json<T: serde::de::DeserializeOwned>(stored: &[u8]) -> Result<T, Error> {
    let text = decode(stored)?;
    serde_json::from_slice(&text).map_err(|err| Error::Corrupt(format!("stored JSON: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blobs_are_stored_raw() {
        let stored = encode(b"hello");
        assert_eq!(stored[0], TAG_RAW);
        assert_eq!(decode(&stored).unwrap(), b"hello");
    }

    #[test]
    fn large_blobs_are_compressed_and_round_trip() {
        let data = "abcdefgh".repeat(4096).into_bytes();
        let stored = encode(&data);
        assert_eq!(stored[0], TAG_LZ4);
        assert!(stored.len() < data.len() / 10);
        assert_eq!(decode(&stored).unwrap(), data);
    }

    #[test]
    fn incompressible_blobs_stay_raw() {
        let mut x: u32 = 0x1234_5678;
        let data: Vec<u8> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        let stored = encode(&data);
        assert_eq!(stored[0], TAG_RAW);
        assert_eq!(decode(&stored).unwrap(), data);
    }

    #[test]
    fn malformed_blobs_are_errors_not_panics() {
        for bad in [
            &[][..],
            &[9, 1, 2][..],
            &[TAG_LZ4, 1][..],
            &[TAG_LZ4, 255, 255, 255, 255, 0][..],
            &[TAG_LZ4, 100, 0, 0, 0, 0xff, 0xff, 0xff][..],
        ] {
            assert_eq!(decode(bad).unwrap_err().kind(), crate::ErrorKind::Corrupt);
        }
    }
}
