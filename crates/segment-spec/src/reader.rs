//! Streaming reader for every input shape: one event, an array, a batch envelope, NDJSON
//! of any of these, each optionally gzip-compressed.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::error::{ErrorKind, EventError, Position};
use crate::event::Event;
use crate::validate::{build, compact_len};

/// Default limit on one event's JSON, as the Segment tracking API sets it.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 32 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How to split the input into JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// NDJSON when the first non-blank line is a complete JSON value, otherwise one or
    /// more (possibly pretty-printed) JSON documents.
    #[default]
    Auto,
    /// One JSON value per line, each read and checked on its own.
    Ndjson,
    /// One or more JSON documents, each possibly spanning many lines. The input is
    /// buffered whole, up to [`ReadOptions::max_document_bytes`].
    Json,
}

/// Limits and choices for reading events.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// How to split the input into values.
    pub format: InputFormat,
    /// Largest accepted event, in bytes of compact JSON.
    pub max_event_bytes: usize,
    /// Largest NDJSON line, in bytes; longer lines are skipped with an error, so that one
    /// runaway line cannot exhaust memory.
    pub max_line_bytes: usize,
    /// Largest whole-document input, in bytes.
    pub max_document_bytes: usize,
    /// Time given to events that carry no time field; `None` means the time each event is
    /// read.
    pub ingested_at: Option<Timestamp>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            format: InputFormat::Auto,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_line_bytes: 16 * 1024 * 1024,
            max_document_bytes: 256 * 1024 * 1024,
            ingested_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Detect,
    Lines,
    Done,
}

/// An iterator of events read from a byte stream, one `Result` per event.
///
/// NDJSON is read one line at a time, so memory stays flat however long the input is,
/// and a bad line yields an error and reading goes on with the next line. Whole JSON
/// documents are buffered and parsed as a unit. gzip input is recognised by its magic
/// bytes and decompressed on the fly, including multi-member files.
///
/// ```
/// use segment_spec::{EventReader, ReadOptions};
///
/// let input = br#"{"type":"track","event":"Signed Up","userId":"u1"}
/// {"type":"track","userId":"u2"}
/// "#;
/// let results: Vec<_> = EventReader::new(&input[..], ReadOptions::default()).collect();
///
/// assert_eq!(results[0].as_ref().unwrap().user_id(), Some("u1"));
/// let err = results[1].as_ref().unwrap_err();
/// assert_eq!(err.pointer(), Some("/event"));
/// assert_eq!(err.position.line, 2);
/// ```
pub struct EventReader {
    input: Box<dyn BufRead + Send>,
    options: ReadOptions,
    mode: Mode,
    /// Lines consumed so far; the next line read is `lines_read + 1`.
    lines_read: u64,
    line: Vec<u8>,
    pending: VecDeque<Result<Event, EventError>>,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("options", &self.options)
            .field("mode", &self.mode)
            .field("lines_read", &self.lines_read)
            .finish_non_exhaustive()
    }
}

enum LineRead {
    Line,
    TooLong,
    Eof,
}

impl EventReader {
    /// Reads events from `input`, decompressing it first when it starts with the gzip
    /// magic bytes.
    pub fn new(input: impl Read + Send + 'static, options: ReadOptions) -> Self {
        let mut reader = Self {
            input: Box::new(io::empty()),
            options,
            mode: Mode::Detect,
            lines_read: 0,
            line: Vec::new(),
            pending: VecDeque::new(),
        };
        match sniff_gzip(input) {
            Ok(input) => reader.input = input,
            Err(err) => reader.fail(Position::line(1), ErrorKind::Io(err)),
        }
        reader
    }

    /// Opens the file at `path` and reads events from it.
    ///
    /// # Errors
    ///
    /// Returns the error of opening the file, with the path in its message.
    pub fn open(path: &Path, options: ReadOptions) -> io::Result<Self> {
        let file = File::open(path).map_err(|err| {
            io::Error::new(err.kind(), format!("cannot open {}: {err}", path.display()))
        })?;
        Ok(Self::new(file, options))
    }

    /// Lines consumed so far, for progress reports.
    pub fn lines_read(&self) -> u64 {
        self.lines_read
    }

    fn fail(&mut self, position: Position, kind: ErrorKind) {
        self.pending
            .push_back(Err(EventError::new(position, None, kind)));
        self.mode = Mode::Done;
    }

    /// Reads the next line into `self.line`, without its line ending, holding at most
    /// `max_line_bytes` of it in memory.
    fn read_line(&mut self) -> io::Result<LineRead> {
        self.line.clear();
        let limit = self.options.max_line_bytes;
        let mut read_any = false;
        let mut too_long = false;

        loop {
            let available = match self.input.fill_buf() {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            if available.is_empty() {
                break;
            }
            read_any = true;

            // memchr scans many bytes per instruction; a byte-by-byte search was about
            // a tenth of the reader's instructions on typical 600-byte events.
            let newline = memchr::memchr(b'\n', available);
            let chunk = match newline {
                Some(at) => &available[..at],
                None => available,
            };
            if !too_long && self.line.len() + chunk.len() > limit {
                too_long = true;
                self.line = Vec::new();
            }
            if !too_long {
                self.line.extend_from_slice(chunk);
            }
            let consumed = chunk.len() + usize::from(newline.is_some());
            self.input.consume(consumed);
            if newline.is_some() {
                break;
            }
        }

        if !read_any {
            return Ok(LineRead::Eof);
        }
        self.lines_read += 1;
        Ok(if too_long {
            LineRead::TooLong
        } else {
            LineRead::Line
        })
    }

    /// Reads lines until one holds something, returning `false` at the end of input.
    fn next_content_line(&mut self) -> bool {
        loop {
            match self.read_line() {
                Ok(LineRead::Line) if self.line.trim_ascii().is_empty() => continue,
                Ok(LineRead::Line) => return true,
                Ok(LineRead::TooLong) => {
                    let limit = self.options.max_line_bytes;
                    self.pending.push_back(Err(EventError::new(
                        Position::line(self.lines_read),
                        None,
                        ErrorKind::LineTooLong { limit },
                    )));
                    return false;
                }
                Ok(LineRead::Eof) => {
                    self.mode = Mode::Done;
                    return false;
                }
                Err(err) => {
                    let position = Position::line(self.lines_read + 1);
                    self.fail(position, ErrorKind::Io(err));
                    return false;
                }
            }
        }
    }

    /// Decides between NDJSON and whole documents from the first non-blank line.
    fn detect(&mut self) {
        if !self.next_content_line() {
            // A first line that was too long can only be NDJSON: documents are buffered.
            if self.mode != Mode::Done {
                self.mode = Mode::Lines;
            }
            return;
        }
        let first_line = self.lines_read;

        let document = match self.options.format {
            InputFormat::Ndjson => false,
            InputFormat::Json => true,
            InputFormat::Auto => {
                // A complete value, or a syntax error that no later line could repair,
                // means NDJSON; a value cut off at the line's end means a document.
                matches!(
                    serde_json::from_slice::<serde::de::IgnoredAny>(&self.line),
                    Err(err) if err.is_eof()
                )
            }
        };

        if document {
            self.read_documents(first_line);
            self.mode = Mode::Done;
        } else {
            self.handle_line(first_line);
            self.mode = Mode::Lines;
        }
    }

    fn handle_line(&mut self, line_number: u64) {
        let bytes = self.line.trim_ascii();
        let raw_len = bytes.len();
        match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => self.expand(value, line_number, raw_len),
            Err(err) => {
                let kind = ErrorKind::from_json(&err, line_offset(line_number));
                let error = EventError::new(Position::line(line_number), None, kind);
                self.pending.push_back(Err(error));
            }
        }
    }

    /// Buffers the rest of the input and parses it as a sequence of JSON documents. When
    /// the documents do not parse but most lines are complete values on their own, the
    /// input is NDJSON whose first line was broken, and it is read line by line instead.
    fn read_documents(&mut self, first_line: u64) {
        let mut buffer = std::mem::take(&mut self.line);
        buffer.push(b'\n');
        let limit = self.options.max_document_bytes;
        let budget = (limit + 1).saturating_sub(buffer.len()) as u64;
        if let Err(err) = (&mut self.input).take(budget).read_to_end(&mut buffer) {
            let position = Position::line(first_line);
            self.fail(position, ErrorKind::Io(err));
            return;
        }
        if buffer.len() > limit {
            self.fail(
                Position::line(first_line),
                ErrorKind::DocumentTooLarge { limit },
            );
            return;
        }

        let mut parsed = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&buffer).into_iter::<Value>();
        let mut start = 0;
        let mut failure = None;
        while let Some(result) = stream.next() {
            let end = stream.byte_offset();
            match result {
                Ok(value) => {
                    let value_start = start + leading_whitespace(&buffer[start..end]);
                    let line = first_line + count_newlines(&buffer[..value_start]);
                    parsed.push((value, line, end - value_start));
                    start = end;
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }

        if let Some(err) = failure {
            if parsed.is_empty() && looks_like_ndjson(&buffer) {
                self.reread_as_lines(&buffer, first_line);
                return;
            }
            for (value, line, raw_len) in parsed {
                self.expand(value, line, raw_len);
            }
            let kind = ErrorKind::from_json(&err, line_offset(first_line));
            let position = Position::line(first_line + count_newlines(&buffer[..start]));
            self.pending
                .push_back(Err(EventError::new(position, None, kind)));
            return;
        }
        for (value, line, raw_len) in parsed {
            self.expand(value, line, raw_len);
        }
    }

    fn reread_as_lines(&mut self, buffer: &[u8], first_line: u64) {
        for (offset, line) in buffer.split(|&b| b == b'\n').enumerate() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            self.line.clear();
            self.line.extend_from_slice(line);
            self.handle_line(first_line + offset as u64);
        }
    }

    /// Turns one top-level value into events: an event object, a batch envelope or an
    /// array of events.
    fn expand(&mut self, value: Value, line: u64, raw_len: usize) {
        let options = &self.options;
        match value {
            Value::Object(map) if is_batch_envelope(&map) => self.expand_batch(map, line),
            Value::Object(_) => {
                // The line's length bounds the compact size from above, so only lines
                // over the limit need the exact count.
                let size = if raw_len > options.max_event_bytes {
                    compact_len(&value)
                } else {
                    raw_len
                };
                let event = build(value, Position::line(line), size, options);
                self.pending.push_back(event);
            }
            Value::Array(items) => {
                for (index, item) in items.into_iter().enumerate() {
                    let size = compact_len(&item);
                    let event = build(item, Position::item(line, index), size, &self.options);
                    self.pending.push_back(event);
                }
            }
            other => {
                let expected = "an event object, an array of events or a batch envelope";
                let kind = ErrorKind::invalid("", expected, &other);
                self.pending
                    .push_back(Err(EventError::new(Position::line(line), None, kind)));
            }
        }
    }

    /// Expands `{"batch": [...], "context"?, "integrations"?, "sentAt"?}`. The envelope's
    /// context and integrations are merged key by key into each item's (the item's keys
    /// win), and its `sentAt` applies to items without one.
    fn expand_batch(&mut self, mut envelope: Map<String, Value>, line: u64) {
        let items = match envelope.remove("batch") {
            Some(Value::Array(items)) => items,
            other => {
                let found = other.unwrap_or(Value::Null);
                let kind = ErrorKind::invalid("/batch", "an array of events", &found);
                let error = EventError::new(Position::line(line), None, kind);
                self.pending.push_back(Err(error));
                return;
            }
        };
        let shared_objects: Vec<(&str, Map<String, Value>)> = ["context", "integrations"]
            .into_iter()
            .filter_map(|key| match envelope.remove(key) {
                Some(Value::Object(map)) => Some((key, map)),
                _ => None,
            })
            .collect();
        let sent_at = envelope.remove("sentAt").filter(|v| !v.is_null());

        for (index, mut item) in items.into_iter().enumerate() {
            let size = compact_len(&item);
            if let Value::Object(map) = &mut item {
                for (key, shared) in &shared_objects {
                    merge_object(map, key, shared);
                }
                if let Some(sent_at) = &sent_at
                    && map.get("sentAt").is_none_or(Value::is_null)
                {
                    map.insert("sentAt".to_owned(), sent_at.clone());
                }
            }
            let event = build(item, Position::item(line, index), size, &self.options);
            self.pending.push_back(event);
        }
    }
}

impl Iterator for EventReader {
    type Item = Result<Event, EventError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(result) = self.pending.pop_front() {
                return Some(result);
            }
            match self.mode {
                Mode::Done => return None,
                Mode::Detect => self.detect(),
                Mode::Lines => {
                    if self.next_content_line() {
                        self.handle_line(self.lines_read);
                    }
                }
            }
        }
    }
}

/// Peeks at the first two bytes and puts a gzip decoder in front when they are the gzip
/// magic number. A file extension is not trusted either way.
fn sniff_gzip(mut input: impl Read + Send + 'static) -> io::Result<Box<dyn BufRead + Send>> {
    let mut magic = [0u8; 2];
    let mut filled = 0;
    while filled < magic.len() {
        match input.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }

    let restored = Cursor::new(magic[..filled].to_vec()).chain(input);
    if filled == magic.len() && magic == GZIP_MAGIC {
        let decoder = MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER_BYTES, restored));
        Ok(Box::new(BufReader::with_capacity(
            READ_BUFFER_BYTES,
            decoder,
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(
            READ_BUFFER_BYTES,
            restored,
        )))
    }
}

fn is_batch_envelope(map: &Map<String, Value>) -> bool {
    !map.contains_key("type") && map.contains_key("batch")
}

/// Adds the envelope's entries to the item's object under `key`, keeping the item's own
/// entries. An item value that is not an object is left for validation to reject.
fn merge_object(item: &mut Map<String, Value>, key: &str, shared: &Map<String, Value>) {
    match item.get_mut(key) {
        Some(Value::Object(own)) => {
            for (name, value) in shared {
                own.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        None | Some(Value::Null) => {
            item.insert(key.to_owned(), Value::Object(shared.clone()));
        }
        Some(_) => {}
    }
}

/// Whether a buffer that failed to parse as documents is better read as NDJSON: at least
/// half of its non-blank lines are complete JSON objects or arrays on their own. Lines
/// of pretty-printed JSON almost never are.
fn looks_like_ndjson(buffer: &[u8]) -> bool {
    let mut content_lines = 0usize;
    let mut complete = 0usize;
    for line in buffer.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        content_lines += 1;
        let container = matches!(line.first(), Some(b'{' | b'['));
        if container && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
            complete += 1;
        }
    }
    complete > 0 && complete * 2 >= content_lines
}

fn leading_whitespace(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_whitespace()).count()
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// serde_json counts lines from 1 within the slice it parsed; this shifts them to the
/// input's numbering.
fn line_offset(first_line: u64) -> usize {
    usize::try_from(first_line.saturating_sub(1)).unwrap_or(usize::MAX)
}
