//! Text a connector wrote, made safe to print: its error and panic messages,
//! log lines, and the name, version and description its `spec` returns can carry
//! terminal escape sequences (clipboard writes, window titles, screen clears),
//! carriage returns and line feeds that forge log lines, and bidirectional
//! overrides that make text read other than it is. Every such character is
//! shown escaped (`\u{1b}`), never sent to the terminal.

/// The message of a panic caught from a decoder of hostile input (arrow, parquet),
/// if it carries one: it can quote that input.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> Option<&str> {
    panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied())
}

/// `text` on one line, with every control and bidirectional-format character escaped.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push(&mut out, c);
    }
    out
}

/// `text` keeping its line breaks (a panic message and its backtrace), each line
/// escaped as [`one_line`] escapes it.
pub fn lines(text: &str) -> String {
    text.split('\n').map(|l| one_line(l.strip_suffix('\r').unwrap_or(l))).collect::<Vec<_>>().join("\n")
}

/// At most `max` characters of `text`, escaped as [`one_line`] escapes it, with
/// `…` where it was cut: for source values quoted in messages and logs, which
/// can be as long as a record.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let mut out = one_line(&chars.by_ref().take(max).collect::<String>());
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

fn push(out: &mut String, c: char) {
    let dangerous =
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if dangerous {
        out.extend(c.escape_unicode());
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reach_the_terminal_only_as_text() {
        let osc52 = "copy\u{1b}]52;c;ZXZpbA==\u{7}done";
        assert_eq!(one_line(osc52), "copy\\u{1b}]52;c;ZXZpbA==\\u{7}done");
        assert_eq!(one_line("ok\r\nERROR forged line"), "ok\\u{d}\\u{a}ERROR forged line");
        assert_eq!(one_line("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(lines("panicked at x\r\n\u{1b}[2Jnote"), "panicked at x\n\\u{1b}[2Jnote");
        assert_eq!(one_line("plain ünïcode, tabs\tno"), "plain ünïcode, tabs\\u{9}no");
    }

    #[test]
    fn excerpts_are_cut_and_escaped() {
        assert_eq!(excerpt("short", 200), "short");
        assert_eq!(excerpt(&"é".repeat(300), 200), format!("{}…", "é".repeat(200)));
        assert_eq!(excerpt("a\r\nERROR x", 200), "a\\u{d}\\u{a}ERROR x");
    }
}
