//! The API key never reaches a log, at any level, whether the key works or is rejected.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use super::support::{KEY, Run, Setup, tracks};

/// A log sink that keeps everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("unpoisoned")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("unpoisoned").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn trace_logs_never_contain_key() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut good = Run::start(Setup::default()).await;
    good.deliver(tracks(2, 4)).await;
    let mut bad = Run::start(Setup {
        api_key: "sd_rejected_key_0002",
        ..Setup::default()
    })
    .await;
    bad.deliver(tracks(2, 4)).await;

    let text = captured.text();
    assert!(
        text.contains("Startdeliver request"),
        "no request was logged:\n{text}"
    );
    assert!(
        text.contains("API key rejected"),
        "the rejection was not logged:\n{text}"
    );
    assert!(!text.contains(KEY), "the API key was logged:\n{text}");
    assert!(
        !text.contains("sd_rejected_key_0002"),
        "the API key was logged:\n{text}"
    );
}
