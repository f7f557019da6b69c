//! The structure around the records: the top-level value (an array, a bundle, an upload body
//! or a single object), the members of a container, and the commas and brackets of the records
//! array. Every error here is fatal (a [`ReadError`]) and names line and column.
//!
//! Invariants: the reader never looks back, so a container's members are read in one pass (a
//! bundle's `spec_version` applies to its records only if it comes before them); a container
//! that names one of its keys twice, or its records under two keys, is refused rather than read
//! one way; only the few keys a container is known by are remembered, so the memory an object
//! of a million members costs here does not grow with it.

use std::io::Read;

use super::{Found, JsonRecords, ReadError, Shape, Span, State};

impl<R: Read> JsonRecords<R> {
    /// Finds the next record.
    pub(super) fn advance(&mut self) -> Result<Option<Found>, ReadError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => self.start()?,
                State::InArray { first } => {
                    self.keep = self.pos;
                    let Some(b) = self.peek_non_ws()? else {
                        return Err(self.syntax(
                            "unexpected end of input: the array of records is not closed with ']'",
                        ));
                    };
                    if b == b']' {
                        self.pos += 1;
                        self.end_of_array()?;
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(self.syntax(format!(
                                "expected ',' or ']' after record {}, found {}",
                                self.index.saturating_sub(1),
                                describe(b)
                            )));
                        }
                        self.pos += 1;
                        match self.peek_non_ws()? {
                            Some(b']') => {
                                return Err(self.syntax(
                                    "trailing comma: remove the ',' after the last record",
                                ))
                            }
                            None => {
                                return Err(self.syntax(
                                    "unexpected end of input after ',': the file is truncated",
                                ))
                            }
                            _ => {}
                        }
                    }
                    self.state = State::InArray { first: false };
                    return Ok(Some(Found::RecordStart));
                }
                State::InObject { first } => {
                    if let Some(single) = self.object_member(first)? {
                        return Ok(Some(Found::Span(single)));
                    }
                }
            }
        }
    }

    fn start(&mut self) -> Result<(), ReadError> {
        self.fill_at_least(4)?;
        let head = &self.buf[self.pos..self.end];
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            // RFC 8259 lets a parser ignore a UTF-8 byte-order mark, and editors on Windows
            // write one; it carries no meaning, so it is skipped.
            self.pos += 3;
            self.line_start = 3;
        } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(self.syntax("the file is UTF-16; save it as UTF-8"));
        }
        match self.peek_non_ws()? {
            None => Err(self.syntax(
                "empty input: expected a JSON array of STIX objects, a bundle or an upload-API body",
            )),
            Some(b'[') if !self.require_upload => {
                self.container.shape = Some(Shape::Array);
                self.pos += 1;
                self.state = State::InArray { first: true };
                Ok(())
            }
            Some(b'{') => {
                self.object_start = Some((self.pos, self.line, self.column()));
                self.keep = self.pos;
                self.pos += 1;
                self.state = State::InObject { first: true };
                Ok(())
            }
            Some(b) => Err(self.syntax(format!(
                "the top-level value is {}; expected {}",
                describe(b),
                if self.require_upload {
                    "an upload-API body {\"sourcesystem\": …, \"stixobjects\": […]}"
                } else {
                    "a JSON array of STIX objects, a bundle or an upload-API body"
                }
            ))),
        }
    }

    /// Reads one member of the top-level object. Returns the whole object as a record if it
    /// ends without having had a records array.
    fn object_member(&mut self, first: bool) -> Result<Option<Span>, ReadError> {
        if self.object_has_records {
            self.keep = self.pos;
        }
        let Some(mut b) = self.peek_non_ws()? else {
            return Err(self.syntax("unexpected end of input: the object is not closed with '}'"));
        };
        if !first && b != b'}' {
            if b != b',' {
                return Err(self.syntax(format!("expected ',' or '}}', found {}", describe(b))));
            }
            self.pos += 1;
            b = self.peek_non_ws()?.unwrap_or(b'\0');
        } else if b == b'}' {
            self.pos += 1;
            return self.end_of_object();
        }
        if b != b'"' {
            return Err(self.syntax(format!("expected a member name, found {}", describe(b))));
        }
        // Positions as file offsets: reading on may move the buffer (what lies before `keep`
        // is dropped when it is refilled), never these bytes, which lie after `keep`.
        let key_start = self.base + self.pos as u64;
        self.skip_value()?;
        let key_at = (key_start - self.base) as usize;
        let key: String = serde_json::from_slice(&self.buf[key_at..self.pos])
            .map_err(|_| self.syntax("malformed member name"))?;
        match self.peek_non_ws()? {
            Some(b':') => self.pos += 1,
            other => {
                return Err(self.syntax(format!(
                    "expected ':' after \"{key}\", found {}",
                    other.map_or("end of input".into(), describe)
                )))
            }
        }
        let Some(vb) = self.peek_non_ws()? else {
            return Err(self.syntax("unexpected end of input: the file is truncated"));
        };
        let lower = key.to_ascii_lowercase();
        let records_key = match lower.as_str() {
            "objects" => Some(Shape::Bundle),
            "stixobjects" | "value" | "indicators" => Some(Shape::Upload),
            _ => None,
        };
        if let Some(kind) = ContainerKey::of(&lower) {
            let (count, spellings) = &mut self.container_keys[kind as usize];
            *count += 1;
            if spellings.len() < 2 {
                spellings.push(key.clone());
            }
        }
        self.state = State::InObject { first: false };
        let starts_records = records_key.is_some() && vb == b'[' && !self.object_has_records;
        if starts_records || self.object_has_records {
            // A container, then: each of its keys once.
            self.check_container_keys()?;
        }
        if let (Some(shape), true) = (records_key, starts_records) {
            if shape == Shape::Bundle && self.require_upload {
                return Err(self.syntax(
                    "an upload-API body names its records \"stixobjects\", not \"objects\"",
                ));
            }
            self.object_has_records = true;
            self.container.shape = Some(shape);
            self.pos += 1;
            self.keep = self.pos;
            self.state = State::InArray { first: true };
            return Ok(None);
        }
        let value_start = self.base + self.pos as u64;
        self.skip_value()?;
        let value = &self.buf[(value_start - self.base) as usize..self.pos];
        // `sourcesystem` is read whatever its length (the body's own limit bounds it), so that
        // a long one is refused for its length rather than taken for missing.
        let wanted = match lower.as_str() {
            "sourcesystem" => true,
            "spec_version" | "type" => value.len() < 4096,
            _ => false,
        };
        if wanted {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(value) {
                match lower.as_str() {
                    "sourcesystem" => self.container.sourcesystem = Some(v),
                    "spec_version" => self.container.spec_version = v.as_str().map(str::to_owned),
                    _ => self.container.container_type = v.as_str().map(str::to_owned),
                }
            }
        }
        Ok(None)
    }

    /// Refuses a container that named one of its keys twice, or named its records under two
    /// keys.
    fn check_container_keys(&self) -> Result<(), ReadError> {
        let Some((kind, spellings)) = self
            .container_keys
            .iter()
            .enumerate()
            .find(|(_, (count, _))| *count > 1)
            .map(|(kind, (_, spellings))| (kind, spellings))
        else {
            return Ok(());
        };
        let (a, b) = (&spellings[0], &spellings[1]);
        let message = if a == b {
            format!("the key \"{a}\" appears more than once in the top-level object; send it once")
        } else if kind == ContainerKey::Records as usize {
            format!("the body has both \"{a}\" and \"{b}\"; send the objects under one key")
        } else {
            format!(
                "\"{a}\" and \"{b}\" are the same key (names are matched in any case) and it \
                 appears more than once; send it once"
            )
        };
        Err(ReadError::Ambiguous {
            line: self.line,
            column: self.column(),
            message,
        })
    }

    fn end_of_object(&mut self) -> Result<Option<Span>, ReadError> {
        // Absolute, because reading on to the end of input may move the buffer.
        let end_abs = self.base + self.pos as u64;
        self.expect_end()?;
        if self.object_has_records {
            return Ok(None);
        }
        if self.require_upload {
            return Err(self.syntax(
                "the body has no \"stixobjects\" array; expected {\"sourcesystem\": …, \"stixobjects\": […]}",
            ));
        }
        // No records array: the object is itself the one record.
        self.container.shape = Some(Shape::Single);
        let (start, line, column) = self.object_start.expect("set when the object opened");
        Ok(Some(Span {
            start,
            end: (end_abs - self.base) as usize,
            line,
            column,
            oversized: None,
        }))
    }

    fn end_of_array(&mut self) -> Result<(), ReadError> {
        if self.object_start.is_some() {
            self.state = State::InObject { first: false };
            Ok(())
        } else {
            self.expect_end()
        }
    }

    /// After the top-level value only whitespace may follow.
    fn expect_end(&mut self) -> Result<(), ReadError> {
        self.state = State::Done;
        match self.peek_non_ws()? {
            None => Ok(()),
            // What follows is shown as the character it starts with, not read as a value: a
            // word after the end (`] trailing`) is no boolean, whatever its first letter.
            Some(b) => Err(self.syntax(format!(
                "unexpected text after the end of the top-level value, starting with {}; a \
                 file holds one JSON value",
                match b {
                    0x20..=0x7e => format!("'{}'", b as char),
                    _ => format!("byte 0x{b:02X}"),
                }
            ))),
        }
    }
}

/// The keys of a container that must come once each. The records' keys are one kind: a body
/// with `stixobjects` and `value` is as ambiguous as one with `stixobjects` twice.
#[derive(Debug, Clone, Copy)]
enum ContainerKey {
    SourceSystem = 0,
    Records = 1,
    SpecVersion = 2,
    Type = 3,
}

impl ContainerKey {
    fn of(lower: &str) -> Option<ContainerKey> {
        match lower {
            "sourcesystem" => Some(ContainerKey::SourceSystem),
            "objects" | "stixobjects" | "value" | "indicators" => Some(ContainerKey::Records),
            "spec_version" => Some(ContainerKey::SpecVersion),
            "type" => Some(ContainerKey::Type),
            _ => None,
        }
    }
}

fn describe(b: u8) -> String {
    match b {
        b'"' => "a string".into(),
        b'0'..=b'9' | b'-' => "a number".into(),
        b't' | b'f' => "a boolean".into(),
        b'n' => "null".into(),
        b'{' => "an object".into(),
        b'[' => "an array".into(),
        0x20..=0x7e => format!("'{}'", b as char),
        _ => format!("byte 0x{b:02X}"),
    }
}
