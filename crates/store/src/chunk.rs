//! Packed journal chunks: all journal records of one commit (contiguous seqs) stored as one
//! journal row, so a backend inserts one row per commit instead of one per record. Every
//! backend stores the same format, so data moves between them unchanged.
//!
//! Format 1, before [`crate::payload::encode`] (which compresses it above a size):
//!
//! ```text
//! u8   format (1)
//! then, for each record in seq order (seq = first_seq + index):
//!   u32 LE  kind length,    kind bytes (UTF-8)
//!   i64 LE  at_ms
//!   u32 LE  payload length, payload bytes
//! ```
//!
//! The record count is not stored: it is `last_seq - first_seq + 1` of the row, and a chunk
//! whose records do not fill exactly that range is corrupt. Unpacking never panics and never
//! indexes out of bounds: every malformed chunk is an [`Error::Corrupt`] saying what is wrong.

use crate::payload::{MAX_DECODED, encode};
use crate::{Error, JournalRecord};

/// The current (and only) chunk format.
const FORMAT: u8 = 1;

/// Bytes a record takes besides its kind and payload: two lengths and `at_ms`.
const RECORD_OVERHEAD: usize = 4 + 8 + 4;

fn length(len: usize, what: &str) -> Result<[u8; 4], Error> {
    u32::try_from(len)
        .map(u32::to_le_bytes)
        .map_err(|_| Error::InvalidArgument(format!("journal record {what} over 4 GiB")))
}

/// Packs `records` (contiguous seqs, in order) into one chunk.
pub fn pack(records: &[JournalRecord]) -> Result<Vec<u8>, Error> {
    let size = records.iter().fold(1_usize, |size, r| {
        size.saturating_add(RECORD_OVERHEAD)
            .saturating_add(r.kind.len())
            .saturating_add(r.payload.len())
    });
    let mut out = Vec::with_capacity(size);
    out.push(FORMAT);
    for record in records {
        out.extend_from_slice(&length(record.kind.len(), "kind")?);
        out.extend_from_slice(record.kind.as_bytes());
        out.extend_from_slice(&record.at_ms.to_le_bytes());
        out.extend_from_slice(&length(record.payload.len(), "payload")?);
        out.extend_from_slice(&record.payload);
    }
    Ok(out)
}

/// A cursor over a chunk that turns every short read into a precise error.
struct Reader<'a> {
    rest: &'a [u8],
    first_seq: u64,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: &str) -> Error {
        Error::Corrupt(format!("journal chunk at seq {}: {what}", self.first_seq))
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], Error> {
        if len > self.rest.len() {
            return Err(self.corrupt(&format!(
                "truncated {what} ({len} bytes claimed, {} left)",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Error> {
        let bytes = self.take(N, what)?;
        <[u8; N]>::try_from(bytes).map_err(|_| self.corrupt(what))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let len = u32::from_le_bytes(self.array(&format!("{what} length"))?);
        let len = usize::try_from(len).map_err(|_| self.corrupt(&format!("{what} too long")))?;
        self.take(len, what)
    }
}

/// The journal records of one commit as a backend stores them: one packed, encoded chunk and
/// its seq range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedChunk {
    /// The first record's seq.
    pub first_seq: u64,
    /// The last record's seq.
    pub last_seq: u64,
    /// The packed records, through [`crate::payload::encode`] (compressed above a size).
    pub records: Vec<u8>,
}

impl EncodedChunk {
    /// Packs `records` (contiguous seqs, already validated); `None` when there are none. A
    /// chunk larger than [`MAX_DECODED`] is refused: it could not be read back.
    pub fn new(records: &[JournalRecord]) -> Result<Option<Self>, Error> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(None);
        };
        let packed = pack(records)?;
        if packed.len() > MAX_DECODED {
            return Err(Error::InvalidArgument(format!(
                "the journal records of one commit take {} bytes, over the {MAX_DECODED} byte \
                 limit",
                packed.len()
            )));
        }
        Ok(Some(Self {
            first_seq: first.seq,
            last_seq: last.seq,
            records: encode(&packed),
        }))
    }
}

/// Unpacks a chunk holding seqs `first_seq..=last_seq` (as stored, hence `i64`), appending
/// its records to `out` in seq order.
pub fn unpack(
    first_seq: i64,
    last_seq: i64,
    chunk: &[u8],
    out: &mut Vec<JournalRecord>,
) -> Result<(), Error> {
    let (first, last) = match (u64::try_from(first_seq), u64::try_from(last_seq)) {
        (Ok(first), Ok(last)) if first <= last => (first, last),
        _ => {
            return Err(Error::Corrupt(format!(
                "journal chunk has an invalid seq range {first_seq}..={last_seq}"
            )));
        }
    };
    let mut reader = Reader {
        rest: chunk,
        first_seq: first,
    };
    let format = reader.array::<1>("format byte")?[0];
    if format != FORMAT {
        return Err(reader.corrupt(&format!("unknown chunk format {format}")));
    }
    let mut seq = first;
    let mut count: u64 = 0;
    while !reader.rest.is_empty() {
        if seq > last {
            return Err(
                reader.corrupt(&format!("more records than its seq range {first}..={last}"))
            );
        }
        let kind = reader.bytes("kind")?;
        let kind = std::str::from_utf8(kind)
            .map_err(|_| reader.corrupt(&format!("kind of seq {seq} is not UTF-8")))?
            .to_owned();
        let at_ms = i64::from_le_bytes(reader.array("at_ms")?);
        let payload = reader.bytes("payload")?.to_vec();
        out.push(JournalRecord {
            seq,
            kind,
            payload,
            at_ms,
        });
        count += 1;
        // `seq <= last <= i64::MAX` here, so neither can overflow.
        seq += 1;
    }
    if count != last - first + 1 {
        return Err(reader.corrupt(&format!(
            "{count} records for the seq range {first}..={last}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, kind: &str, payload: &[u8], at_ms: i64) -> JournalRecord {
        JournalRecord {
            seq,
            kind: kind.to_owned(),
            payload: payload.to_vec(),
            at_ms,
        }
    }

    #[test]
    fn chunks_round_trip() {
        let records = vec![
            record(7, "a", b"", -1),
            record(8, "step.succeeded", &[0, 1, 2, 255], i64::MAX),
            record(9, "ünïcode", &vec![9; 10_000], 0),
        ];
        let chunk = pack(&records).unwrap();
        let mut out = Vec::new();
        unpack(7, 9, &chunk, &mut out).unwrap();
        assert_eq!(out, records);
    }

    #[test]
    fn malformed_chunks_are_corrupt_not_panics() {
        let good = pack(&[record(1, "k", b"payload", 5), record(2, "k", b"", 6)]).unwrap();
        let mut bad_utf8 = pack(&[record(1, "kk", b"", 5)]).unwrap();
        bad_utf8[5] = 0xff;
        let mut huge_len = good.clone();
        huge_len[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut bad_format = good.clone();
        bad_format[0] = 2;
        let cases: Vec<(&str, Vec<u8>, i64, i64)> = vec![
            ("empty", Vec::new(), 1, 2),
            ("format only", vec![FORMAT], 1, 1),
            ("bad format", bad_format, 1, 2),
            ("huge length", huge_len, 1, 2),
            ("non-UTF-8 kind", bad_utf8, 1, 1),
            ("too few records", good.clone(), 1, 3),
            ("too many records", good.clone(), 1, 1),
            ("reversed range", good.clone(), 2, 1),
            ("negative range", good.clone(), -1, 0),
            ("too many at the i64 end", good.clone(), i64::MAX, i64::MAX),
        ];
        for (name, chunk, first, last) in cases {
            let err = unpack(first, last, &chunk, &mut Vec::new()).unwrap_err();
            assert!(matches!(err, Error::Corrupt(_)), "{name}: {err}");
        }
        for cut in 1..good.len() {
            let err = unpack(1, 2, &good[..cut], &mut Vec::new()).unwrap_err();
            assert!(matches!(err, Error::Corrupt(_)), "cut at {cut}: {err}");
        }
    }
}
