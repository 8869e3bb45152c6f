//! Reading config text into JSON: JSON first, JSON5 as the fallback, with a nesting
//! limit that keeps the recursive JSON5 parser off deep input.

use serde_json::Value;

use crate::error::Error;

/// The deepest nesting of objects and arrays that a config may have. serde_json stops at
/// the same depth. The json5 crate (1.3) has no limit and overflows the stack on deep
/// input, which aborts the process.
pub const MAX_CONFIG_DEPTH: usize = 128;

pub(super) fn parse(text: &str) -> Result<Value, Error> {
    // serde_json first: it keeps large integers exact and is the common case.
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Ok(value);
    }

    check_depth(text)?;
    json5::from_str::<Value>(text).map_err(syntax_error)
}

/// Rejects text whose objects and arrays nest deeper than [`MAX_CONFIG_DEPTH`], skipping
/// brackets inside JSON5 strings and comments.
fn check_depth(text: &str) -> Result<(), Error> {
    let mut depth = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                while let Some((_, inner)) = chars.next() {
                    if inner == '\\' {
                        chars.next();
                    } else if inner == c {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|&(_, next)| next == '/') => {
                for (_, inner) in chars.by_ref() {
                    if inner == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|&(_, next)| next == '*') => {
                chars.next();
                let mut previous = ' ';
                for (_, inner) in chars.by_ref() {
                    if previous == '*' && inner == '/' {
                        break;
                    }
                    previous = inner;
                }
            }
            '{' | '[' => {
                depth += 1;
                if depth > MAX_CONFIG_DEPTH {
                    return Err(too_deep(text, offset));
                }
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn too_deep(text: &str, offset: usize) -> Error {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    Error::Syntax {
        line,
        column,
        message: format!("objects and arrays nest deeper than {MAX_CONFIG_DEPTH} levels"),
    }
}

fn syntax_error(err: json5::Error) -> Error {
    let (line, column) = err
        .position()
        .map_or((0, 0), |p| (p.line + 1, p.column + 1));
    let message = err.to_string();
    // json5 appends the position to its message; it is in `line` and `column` already.
    let message = match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message,
    };
    Error::Syntax {
        line,
        column,
        message,
    }
}
