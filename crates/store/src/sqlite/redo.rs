//! Redo frames: an upload's decided rows and their JSON, appended to the version log as one
//! self-checking record, so that an upload is durable (and answered) once its frame is, long
//! before SQLite commits its rows.
//!
//! # Layout
//!
//! `MAGIC` (8 bytes), the payload's length (u32 LE), its CRC-32 (u32 LE), then the payload:
//! the workspace, the store time, the source and the origin, and for each row its columns and
//! its JSON. Rows point at their JSON inside the frame (`json_at` is the frame's position plus
//! the JSON's offset in it), so applying a frame, the first time or again at recovery, never
//! writes the JSON anywhere else.
//!
//! # Extents
//!
//! An import's JSON goes into *extents*: a header (`EXTENT_MAGIC`, the payload's length, a
//! CRC-32 of those twelve bytes), then the payload, which the import fills with the JSON of its
//! versions. Frames and extents are laid out one after another past the committed length, in
//! the order they were reserved, so that uploads of other workspaces go on while an import
//! runs: a scan (recovery) applies frames and steps over extents, whatever became of their
//! import. An extent's header is written when it is reserved, before any later record is made
//! durable, so a scan never finds an acknowledged frame behind a header it cannot read.
//!
//! # Why a record cannot be confused with anything else in the log
//!
//! Past the committed length the log holds only frames and extents. A record is recognised
//! only where one ends or the committed length is, and a stored version's JSON always begins
//! with `{`, which neither magic does; after that the length and the checksum must both hold. A
//! torn frame (a crash while writing it) fails the checksum and ends the scan; it was never
//! acknowledged.
//!
//! What these records make durable, in which order, and what recovery may cut: ARCHITECTURE.md,
//! `crates/store`, "Durability of the embedded store".

use std::fs::File;
use std::os::unix::fs::FileExt;

/// The version of this layout, recorded in the database (`redo_format`), which a build
/// refuses to open if it differs. 2: extents (a build that knew only frames would cut the
/// frames behind an extent).
pub const FORMAT: i64 = 2;

/// The first bytes of every frame. Not `{`, which every stored JSON begins with.
pub const MAGIC: &[u8; 8] = b"TPREDO01";
/// The first bytes of every extent.
pub const EXTENT_MAGIC: &[u8; 8] = b"TPXTNT01";
/// The length of a frame's header, and of an extent's.
pub const HEADER: usize = 16;

/// An extent's header: the magic, the payload's length, a checksum of both.
pub fn extent_header(len: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(EXTENT_MAGIC);
    h[8..12].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What a scan finds at a position of the log.
#[derive(Debug)]
pub enum Record {
    /// A frame and its whole length.
    Frame(Entry, u64),
    /// An extent: its whole length (header and payload), to step over.
    Extent(u64),
}

/// The record at `at`, if an intact one is there: a frame (checked whole) or an extent
/// (its header checked; its payload is the import's business). `None` at the end of the file,
/// or where no intact record is.
pub fn record_at(file: &File, at: u64) -> std::io::Result<Option<Record>> {
    let mut header = [0u8; HEADER];
    match file.read_exact_at(&mut header, at) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if &header[..8] == EXTENT_MAGIC {
        let len = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        return Ok((header == extent_header(len))
            .then_some(Record::Extent(HEADER as u64 + u64::from(len))));
    }
    Ok(read_at(file, at)?.map(|(e, len)| Record::Frame(e, len)))
}

/// Whether an intact frame follows `at`, after any extents.
pub fn frames_after(file: &File, mut at: u64) -> std::io::Result<bool> {
    loop {
        match record_at(file, at)? {
            Some(Record::Frame(..)) => return Ok(true),
            Some(Record::Extent(len)) => at += len,
            None => return Ok(false),
        }
    }
}

/// The largest payload a frame may have: far above one upload request (whose body is limited to
/// tens of megabytes), and a bound on what a damaged length can make recovery allocate.
pub const MAX_PAYLOAD: usize = 256 << 20;

/// One row of `objects` as decided, ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub stix_id: String,
    pub object_type: String,
    pub modified: i64,
    pub modified_ns: i64,
    pub spec_version: String,
    pub created: i64,
    pub revoked: bool,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub confidence: Option<i64>,
    pub tlp: Option<String>,
    pub labels: Option<String>,
    pub content_hash: Option<Vec<u8>>,
    /// The encoded observable keys, for a version that becomes current.
    pub observables: Option<Vec<u8>>,
    /// Whether this version becomes the current one.
    pub current: bool,
    /// Whether any version of the id was stored before this one: if not, there is no current
    /// version to retire.
    pub had_head: bool,
    /// Where the JSON is, relative to the frame's first byte.
    pub json_off: u64,
    pub json_len: u64,
}

/// One upload request's decided rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub ws: i64,
    pub stored_at: i64,
    pub source: String,
    pub origin: String,
    pub rows: Vec<Row>,
}

/// Builds one frame: push the rows with their JSON, then [`FrameBuilder::finish`].
pub struct FrameBuilder {
    buf: Vec<u8>,
    /// Where the row count goes, and the rows pushed: a write's unchanged and refused objects
    /// have no row, so the count is known only at the end.
    count_at: usize,
    rows: u32,
}

impl FrameBuilder {
    /// A frame for about `objects` rows.
    pub fn new(ws: i64, stored_at: i64, source: &str, origin: &str, objects: usize) -> Self {
        let mut buf = Vec::with_capacity(1024 * objects.max(1));
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&[0; 8]);
        put_i64(&mut buf, ws);
        put_i64(&mut buf, stored_at);
        put_bytes(&mut buf, source.as_bytes());
        put_bytes(&mut buf, origin.as_bytes());
        let count_at = buf.len();
        put_u32(&mut buf, 0);
        FrameBuilder {
            buf,
            count_at,
            rows: 0,
        }
    }

    /// Appends `row` with its `json`; fills in the row's `json_off` and `json_len`.
    pub fn push(&mut self, row: &mut Row, json: &str) {
        self.rows += 1;
        let b = &mut self.buf;
        put_bytes(b, row.stix_id.as_bytes());
        put_bytes(b, row.object_type.as_bytes());
        put_i64(b, row.modified);
        put_i64(b, row.modified_ns);
        put_bytes(b, row.spec_version.as_bytes());
        put_i64(b, row.created);
        b.push(u8::from(row.revoked) | u8::from(row.current) << 1 | u8::from(row.had_head) << 2);
        put_opt_i64(b, row.valid_from);
        put_opt_i64(b, row.valid_until);
        put_opt_i64(b, row.confidence);
        put_opt_bytes(b, row.tlp.as_deref().map(str::as_bytes));
        put_opt_bytes(b, row.labels.as_deref().map(str::as_bytes));
        put_opt_bytes(b, row.content_hash.as_deref());
        put_opt_bytes(b, row.observables.as_deref());
        put_u32(b, u32::try_from(json.len()).expect("a version under 4 GiB"));
        row.json_off = b.len() as u64;
        row.json_len = json.len() as u64;
        b.extend_from_slice(json.as_bytes());
    }

    /// The frame's bytes, or `None` if it outgrew [`MAX_PAYLOAD`].
    pub fn finish(mut self) -> Option<Vec<u8>> {
        let payload = self.buf.len() - HEADER;
        if payload > MAX_PAYLOAD {
            return None;
        }
        let count_at = self.count_at;
        self.buf[count_at..count_at + 4].copy_from_slice(&self.rows.to_le_bytes());
        let crc = crc32fast::hash(&self.buf[HEADER..]);
        self.buf[8..12].copy_from_slice(&(payload as u32).to_le_bytes());
        self.buf[12..16].copy_from_slice(&crc.to_le_bytes());
        Some(self.buf)
    }
}

/// The frame at `at` in `file`, with its length in bytes; `None` where no intact frame starts
/// (the end of the frames). An error for a failing read, and for a frame whose checksum holds
/// but whose payload does not parse: that is no torn write but a bug or damage, and whatever
/// follows it must not be cut (an `InvalidData` error).
pub fn read_at(file: &File, at: u64) -> std::io::Result<Option<(Entry, u64)>> {
    let mut header = [0u8; HEADER];
    match file.read_exact_at(&mut header, at) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if &header[..8] != MAGIC {
        return Ok(None);
    }
    let len = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
    if len > MAX_PAYLOAD {
        return Ok(None);
    }
    let mut frame = vec![0u8; HEADER + len];
    match file.read_exact_at(&mut frame[HEADER..], at + HEADER as u64) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if crc32fast::hash(&frame[HEADER..]) != crc {
        return Ok(None);
    }
    match decode(&frame) {
        Some(e) => Ok(Some((e, frame.len() as u64))),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the redo frame at {at} checks out but does not parse"),
        )),
    }
}

/// Decodes a whole frame whose checksum held; `None` if its payload does not parse (which a
/// checksum that held makes a bug or a deliberately made frame, never a torn write).
pub fn decode(frame: &[u8]) -> Option<Entry> {
    let mut r = Reader {
        b: frame,
        at: HEADER,
    };
    let ws = r.i64()?;
    let stored_at = r.i64()?;
    let source = r.string()?;
    let origin = r.string()?;
    let n = r.u32()? as usize;
    let mut rows = Vec::with_capacity(n.min(frame.len() / 64));
    for _ in 0..n {
        let stix_id = r.string()?;
        let object_type = r.string()?;
        let modified = r.i64()?;
        let modified_ns = r.i64()?;
        let spec_version = r.string()?;
        let created = r.i64()?;
        let flags = r.take(1)?[0];
        let valid_from = r.opt_i64()?;
        let valid_until = r.opt_i64()?;
        let confidence = r.opt_i64()?;
        let tlp = r.opt_string()?;
        let labels = r.opt_string()?;
        let content_hash = r.opt_bytes()?.map(<[u8]>::to_vec);
        let observables = r.opt_bytes()?.map(<[u8]>::to_vec);
        let json_len = r.u32()? as u64;
        let json_off = r.at as u64;
        r.take(json_len as usize)?;
        rows.push(Row {
            stix_id,
            object_type,
            modified,
            modified_ns,
            spec_version,
            created,
            revoked: flags & 1 != 0,
            current: flags & 2 != 0,
            had_head: flags & 4 != 0,
            valid_from,
            valid_until,
            confidence,
            tlp,
            labels,
            content_hash,
            observables,
            json_off,
            json_len,
        });
    }
    (r.at == frame.len()).then_some(Entry {
        ws,
        stored_at,
        source,
        origin,
        rows,
    })
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(b: &mut Vec<u8>, v: i64) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(b: &mut Vec<u8>, v: &[u8]) {
    put_u32(b, u32::try_from(v.len()).expect("a field under 4 GiB"));
    b.extend_from_slice(v);
}

fn put_opt_i64(b: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => {
            b.push(1);
            put_i64(b, v);
        }
        None => b.push(0),
    }
}

fn put_opt_bytes(b: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) => {
            b.push(1);
            put_bytes(b, v);
        }
        None => b.push(0),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    fn flag(&mut self) -> Option<bool> {
        match self.take(1)?[0] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    fn opt_i64(&mut self) -> Option<Option<i64>> {
        Some(if self.flag()? {
            Some(self.i64()?)
        } else {
            None
        })
    }
    fn opt_bytes(&mut self) -> Option<Option<&'a [u8]>> {
        Some(if self.flag()? {
            Some(self.bytes()?)
        } else {
            None
        })
    }
    fn opt_string(&mut self) -> Option<Option<String>> {
        match self.opt_bytes()? {
            Some(b) => Some(Some(String::from_utf8(b.to_vec()).ok()?)),
            None => Some(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn row(id: &str, current: bool) -> Row {
        Row {
            stix_id: id.into(),
            object_type: "indicator".into(),
            modified: 1_700_000_000_000_000,
            modified_ns: 7,
            spec_version: "2.1".into(),
            created: 1_600_000_000_000_000,
            revoked: false,
            valid_from: Some(5),
            valid_until: None,
            confidence: Some(80),
            tlp: Some("amber".into()),
            labels: Some(r#"["a,b"]"#.into()),
            content_hash: None,
            observables: Some(vec![1, 2, 3]),
            current,
            had_head: !current,
            json_off: 0,
            json_len: 0,
        }
    }

    /// The frame of a write of `objects` objects of which only `a` was stored (the others
    /// unchanged or refused), with `{}` for its JSON.
    fn frame_storing(a: &mut Row, objects: usize) -> Vec<u8> {
        let mut f = FrameBuilder::new(1, 1, "s", "o", objects);
        f.push(a, "{}");
        f.finish().unwrap()
    }

    /// A temporary file holding `bytes`, as the version log would.
    fn file_of(bytes: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    #[test]
    fn a_frame_reads_back_with_its_json_where_the_rows_say() {
        let mut a = row("indicator--1", true);
        let mut b = row("indicator--2", false);
        let mut f = FrameBuilder::new(3, 99, "src", "request:r1", 2);
        f.push(&mut a, r#"{"id":"indicator--1"}"#);
        f.push(&mut b, r#"{"id":"indicator--2"}"#);
        let frame = f.finish().unwrap();
        // After bytes that are not a frame, as JSON of an older version would be.
        let file = file_of(&[b"{}".as_slice(), &frame].concat());
        let (entry, len) = read_at(&file, 2).unwrap().unwrap();
        assert_eq!(len, frame.len() as u64);
        assert_eq!(
            entry,
            Entry {
                ws: 3,
                stored_at: 99,
                source: "src".into(),
                origin: "request:r1".into(),
                rows: vec![a.clone(), b.clone()],
            }
        );
        let json = &frame[a.json_off as usize..(a.json_off + a.json_len) as usize];
        assert_eq!(json, br#"{"id":"indicator--1"}"#);
        // Nothing after it, and no frame where JSON begins.
        assert_eq!(read_at(&file, 2 + len).unwrap(), None);
        assert_eq!(read_at(&file, 0).unwrap(), None);
    }

    #[test]
    fn a_frame_counts_the_rows_pushed_not_the_objects_announced() {
        // A write of three objects of which one was stored (the others unchanged or refused).
        let mut a = row("indicator--1", true);
        let file = file_of(&frame_storing(&mut a, 3));
        let (entry, _) = read_at(&file, 0).unwrap().unwrap();
        assert_eq!(entry.rows, vec![a]);
    }

    #[test]
    fn a_frame_that_checks_out_but_does_not_parse_is_an_error_not_the_end() {
        let mut f = FrameBuilder::new(1, 1, "s", "o", 0);
        f.rows = 2;
        let file = file_of(&f.finish().unwrap());
        let e = read_at(&file, 0).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_torn_or_damaged_frame_is_not_read() {
        let frame = frame_storing(&mut row("indicator--1", true), 1);
        for cut in [1, 10, 16, frame.len() - 1] {
            let file = file_of(&frame[..cut]);
            assert_eq!(read_at(&file, 0).unwrap(), None, "cut at {cut}");
        }
        for flip in [8, 12, 20, frame.len() - 1] {
            let mut bad = frame.clone();
            bad[flip] ^= 0x40;
            let file = file_of(&bad);
            assert_eq!(read_at(&file, 0).unwrap(), None, "byte {flip} changed");
        }
    }
}
