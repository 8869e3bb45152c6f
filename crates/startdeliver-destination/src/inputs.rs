//! Input files for replay, plan and explain: opening, format choice and reading on a
//! blocking thread.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use segment_spec::{Event, EventError, EventReader, InputFormat, ReadOptions};
use tokio::sync::mpsc;

use crate::cli::{InputArgs, InputFormatArg};

/// One item read from the inputs.
#[derive(Debug)]
pub enum Item {
    Event(Event),
    /// A value that could not become an event, with the input it came from.
    Rejected {
        input: String,
        error: EventError,
    },
}

/// The inputs to read: the named files, opened up front, or stdin for none or `-`.
#[derive(Debug)]
pub struct Inputs {
    sources: Vec<Source>,
}

#[derive(Debug)]
struct Source {
    name: String,
    file: Option<File>,
    options: ReadOptions,
}

impl Inputs {
    /// Opens every named file before any is read, so that a typo in the last file name
    /// does not surface after the first files were delivered.
    ///
    /// # Errors
    ///
    /// Names the first file that cannot be opened.
    pub fn open(args: &InputArgs) -> Result<Self> {
        let stdin = [PathBuf::from("-")];
        let paths = if args.files.is_empty() {
            &stdin[..]
        } else {
            &args.files[..]
        };

        let mut sources = Vec::with_capacity(paths.len());
        for path in paths {
            let options = ReadOptions {
                format: format_for(args.format, path),
                max_event_bytes: args.max_event_bytes,
                ..ReadOptions::default()
            };
            let (name, file) = if is_stdin(path) {
                ("stdin".to_owned(), None)
            } else {
                let file = File::open(path)
                    .with_context(|| format!("failed to open input file {}", path.display()))?;
                (path.display().to_string(), Some(file))
            };
            sources.push(Source {
                name,
                file,
                options,
            });
        }
        Ok(Self { sources })
    }

    /// Tells whether one of the inputs is stdin.
    pub fn reads_stdin(&self) -> bool {
        self.sources.iter().any(|source| source.file.is_none())
    }

    /// Prints a hint on stderr when stdin is an input and a terminal, because a command
    /// that waits for typed events looks as if it hangs.
    #[allow(clippy::print_stderr)]
    pub fn hint_if_terminal(&self) {
        if self.reads_stdin() && io::stdin().is_terminal() {
            eprintln!("reading events from standard input; press Ctrl-D to end");
        }
    }

    /// Reads every input on a blocking thread and sends the items through a bounded
    /// channel, so that reading stays ahead of delivery without buffering the input.
    pub fn spawn_reader(self) -> mpsc::Receiver<Item> {
        // The driver already holds up to a thousand events, so a short channel keeps the
        // reader ahead. Each buffered event is its whole JSON tree: a 3 KB event with
        // line items takes tens of kilobytes, so 1,024 here cost about 40 MB of memory.
        let (sender, receiver) = mpsc::channel(64);
        std::thread::spawn(move || {
            for item in self.into_items() {
                if sender.blocking_send(item).is_err() {
                    // The receiver is gone: the run was interrupted.
                    return;
                }
            }
        });
        receiver
    }

    /// Returns every item of every input, read lazily in order.
    pub fn into_items(self) -> impl Iterator<Item = Item> {
        self.sources.into_iter().flat_map(|source| {
            let name = source.name;
            let reader = match source.file {
                Some(file) => EventReader::new(file, source.options),
                None => EventReader::new(io::stdin(), source.options),
            };
            reader.map(move |result| match result {
                Ok(event) => Item::Event(event),
                Err(error) => Item::Rejected {
                    input: name.clone(),
                    error,
                },
            })
        })
    }
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Files named `*.ndjson` or `*.jsonl` (also with `.gz`) are NDJSON, so a broken first
/// line cannot make the reader buffer them as one document.
fn format_for(format: InputFormatArg, path: &Path) -> InputFormat {
    match format {
        InputFormatArg::Ndjson => InputFormat::Ndjson,
        InputFormatArg::Json => InputFormat::Json,
        InputFormatArg::Auto => {
            let name = path.to_string_lossy().to_ascii_lowercase();
            let name = name.strip_suffix(".gz").unwrap_or(&name);
            if name.ends_with(".ndjson") || name.ends_with(".jsonl") {
                InputFormat::Ndjson
            } else {
                InputFormat::Auto
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(files: &[&str]) -> InputArgs {
        InputArgs {
            files: files.iter().map(PathBuf::from).collect(),
            format: InputFormatArg::Auto,
            max_event_bytes: segment_spec::DEFAULT_MAX_EVENT_BYTES,
        }
    }

    #[test]
    fn no_files_or_dash_reads_stdin() {
        assert!(Inputs::open(&args(&[])).expect("stdin opens").reads_stdin());
        assert!(
            Inputs::open(&args(&["-"]))
                .expect("stdin opens")
                .reads_stdin()
        );
    }

    #[test]
    fn named_file_does_not_read_stdin() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let path = file.path().to_str().expect("UTF-8 path");
        assert!(
            !Inputs::open(&args(&[path]))
                .expect("file opens")
                .reads_stdin()
        );
    }
}
