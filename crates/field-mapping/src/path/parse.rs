//! The parser and canonical printer of dotted and bracketed paths.
//!
//! Grammar: a path is a first segment (a bare key or a bracket) followed by any number of
//! `.bare` or `[bracket]` segments. A bare key is one or more characters other than
//! `.`, `[`, `]`, quotes, backslash, whitespace and control characters. A bracket contains
//! an integer index (`[0]`, `[-1]`) or a quoted key (`["a.b"]`, `['a b']`) with the
//! escapes `\"`, `\'` and `\\`.

use std::fmt;

use super::Segment;
use crate::error::Error;

pub(super) fn segments(input: &str) -> Result<Vec<Segment>, Error> {
    Parser {
        input,
        chars: input.chars().collect(),
        at: 0,
    }
    .parse()
}

struct Parser<'a> {
    input: &'a str,
    chars: Vec<char>,
    at: usize,
}

impl Parser<'_> {
    fn parse(mut self) -> Result<Vec<Segment>, Error> {
        if self.chars.is_empty() {
            return Err(self.error("a key or a [bracket]; a path cannot be empty"));
        }

        let mut segments = vec![self.first_segment()?];
        while let Some(c) = self.peek() {
            let segment = match c {
                '.' => {
                    self.at += 1;
                    self.bare("a key after \".\"")?
                }
                '[' => self.bracket()?,
                _ => return Err(self.unexpected("\".\" or \"[\" after a segment")),
            };
            segments.push(segment);
        }
        Ok(segments)
    }

    fn first_segment(&mut self) -> Result<Segment, Error> {
        match self.peek() {
            Some('[') => self.bracket(),
            _ => self.bare("a key or a [bracket] at the start of the path"),
        }
    }

    fn bare(&mut self, expected: &str) -> Result<Segment, Error> {
        let start = self.at;
        while self.peek().is_some_and(is_bare_char) {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.unexpected(expected));
        }

        let text: String = self.chars[start..self.at].iter().collect();
        Ok(bare_segment(text))
    }

    fn bracket(&mut self) -> Result<Segment, Error> {
        // The caller has seen the `[`.
        self.at += 1;
        let segment = match self.peek() {
            Some(quote @ ('"' | '\'')) => {
                self.at += 1;
                Segment::Key(self.quoted(quote)?)
            }
            Some(c) if c == '-' || c.is_ascii_digit() => Segment::Index(self.index()?),
            _ => {
                return Err(self.unexpected(
                    "an index such as [0] or [-1], or a quoted key such as [\"a.b\"]",
                ));
            }
        };

        if self.peek() != Some(']') {
            return Err(self.unexpected("\"]\" to close the bracket"));
        }
        self.at += 1;
        Ok(segment)
    }

    fn quoted(&mut self, quote: char) -> Result<String, Error> {
        let mut key = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error(&format!("a closing {quote} for the quoted key"))),
                Some('\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(escaped @ ('"' | '\'' | '\\')) => key.push(escaped),
                        _ => {
                            return Err(
                                self.unexpected("an escape \\\", \\' or \\\\ after the backslash")
                            );
                        }
                    }
                }
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(key);
                }
                Some(c) => key.push(c),
            }
            self.at += 1;
        }
    }

    fn index(&mut self) -> Result<i64, Error> {
        let start = self.at;
        if self.peek() == Some('-') {
            self.at += 1;
        }
        let digits_start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        if self.at == digits_start {
            return Err(self.unexpected("digits of an index after \"-\""));
        }

        let text: String = self.chars[start..self.at].iter().collect();
        text.parse().map_err(|_| Error::Path {
            input: self.input.to_owned(),
            position: start + 1,
            expected: format!("an index between {} and {}, not {text}", i64::MIN, i64::MAX),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn unexpected(&self, expected: &str) -> Error {
        match self.peek() {
            Some(c) if c.is_whitespace() => self.error(&format!(
                "{expected}; quote keys that contain spaces, as in [\"a b\"]"
            )),
            Some(c) => self.error(&format!("{expected}, found {c:?}")),
            None => self.error(&format!("{expected}, found the end of the path")),
        }
    }

    fn error(&self, expected: &str) -> Error {
        Error::Path {
            input: self.input.to_owned(),
            position: self.at + 1,
            expected: expected.to_owned(),
        }
    }
}

fn is_bare_char(c: char) -> bool {
    !matches!(c, '.' | '[' | ']' | '"' | '\'' | '\\') && !c.is_whitespace() && !c.is_control()
}

/// Turns bare digits into an index, unless a leading zero or the size shows that they
/// name a key (`007`, or more digits than an `i64` holds).
fn bare_segment(text: String) -> Segment {
    let is_index =
        text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    match text.parse::<i64>() {
        Ok(index) if is_index => Segment::Index(index),
        _ => Segment::Key(text),
    }
}

pub(super) fn write_canonical(f: &mut fmt::Formatter<'_>, segments: &[Segment]) -> fmt::Result {
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Index(index) => write!(f, "[{index}]")?,
            Segment::Key(key) if can_be_bare(key, i == 0) => {
                if i > 0 {
                    f.write_str(".")?;
                }
                f.write_str(key)?;
            }
            Segment::Key(key) => {
                f.write_str("[\"")?;
                for c in key.chars() {
                    if matches!(c, '"' | '\\') {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"]")?;
            }
        }
    }
    Ok(())
}

/// Checks whether a key prints without brackets and parses back to the same key: not empty, no
/// reserved character, not all digits (those parse as an index) and, at the start, no
/// `$` (that starts a JSONPath).
fn can_be_bare(key: &str, is_first: bool) -> bool {
    let is_reserved = key.is_empty()
        || !key.chars().all(is_bare_char)
        || key.bytes().all(|b| b.is_ascii_digit())
        || (is_first && key.starts_with('$'));
    !is_reserved
}
