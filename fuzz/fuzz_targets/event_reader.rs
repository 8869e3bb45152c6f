//! Fuzz target: `segment_spec::EventReader` over arbitrary bytes, in each input format.
//!
//! The reader must yield an event or an error for every input and never panic. The
//! limits are lowered so that a small gzip input that inflates a lot stays within
//! libFuzzer's memory limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use segment_spec::{EventReader, InputFormat, ReadOptions};

const LIMIT_BYTES: usize = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    for format in [InputFormat::Auto, InputFormat::Ndjson, InputFormat::Json] {
        let options = ReadOptions {
            format,
            max_event_bytes: 64 * 1024,
            max_line_bytes: LIMIT_BYTES,
            max_document_bytes: LIMIT_BYTES,
            ingested_at: Some(jiff::Timestamp::UNIX_EPOCH),
        };
        let reader = EventReader::new(std::io::Cursor::new(data.to_vec()), options);
        for result in reader {
            match result {
                Ok(event) => {
                    let _ = (event.message_id(), event.event_type(), event.time());
                }
                Err(err) => {
                    let _ = err.to_string();
                }
            }
        }
    }
});
