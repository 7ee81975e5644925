//! The one sanitiser (shared by algodeploy and its emulator) for text that came from a server (the API, the git host, a proxy) or from
//! the `git` program relaying one: before any of it reaches a terminal, a log or a file, the
//! exact secret (the API key) and anything shaped like one are redacted, ANSI escapes and other control
//! characters are removed, and the length is capped.

/// Text from outside — a manifest, the server, git, an algorithm — made inert wherever it is
/// shown, and still readable: control characters (ESC, C1, DEL, …) and bidirectional or
/// zero-width characters are written as escapes (`\e`, `\u{202e}`); a line that would start a
/// GitHub Actions workflow command (`::add-mask::…`, `::stop-commands::…`, after leading white
/// space, which the runner strips) gets a visible `\` before it. Newlines and tabs stay. Text
/// algodeploy writes itself never needs it, so it is applied where output is made (plan lines,
/// Markdown sections, progress lines, errors).
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let start = out.len();
        for c in line.chars() {
            match c {
                '\t' => out.push('\t'),
                '\u{1b}' => out.push_str("\\e"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() || is_invisible(c) => {
                    out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
                }
                c => out.push(c),
            }
        }
        let body = &out[start..];
        let indent = body.len() - body.trim_start().len();
        if body.trim_start().starts_with("::") {
            out.insert(start + indent, '\\');
        }
    }
    out
}

/// Whether `c` is a control, bidirectional or zero-width character: one that a one-line field
/// refuses (it would hide or reorder what people read).
pub fn hides(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// Characters that change how text reads without showing: bidirectional controls, zero-width
/// characters, the BOM and other format characters used to hide or reorder text.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// What stands where a key was.
pub const REDACTED: &str = "(redacted)";

/// One line: every run of white space and control characters becomes one space.
pub fn line(text: &str, secret: Option<&str>, max_chars: usize) -> String {
    let clean = lines(text, secret, usize::MAX);
    let joined = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    cap(&joined, max_chars)
}

/// Several lines kept as lines (git's own messages), each stripped, at most `max_chars` in all.
pub fn lines(text: &str, secret: Option<&str>, max_chars: usize) -> String {
    let mut text = text.to_string();
    let secret = secret.filter(|k| !k.is_empty());
    if let Some(key) = secret {
        text = text.replace(key, REDACTED);
    }
    let stripped = strip_controls(&text);
    let redacted: Vec<String> = stripped
        .split('\n')
        .map(|l| {
            let words: Vec<String> = l.split(' ').map(|w| redact_word(w, secret)).collect();
            redact_authorization(words).join(" ").trim_end().to_string()
        })
        .collect();
    cap(redacted.join("\n").trim_matches('\n'), max_chars)
}

fn cap(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// ANSI escape sequences (CSI and OSC) removed; other control characters but newline and tab
/// become spaces; `\r` (git's progress lines) ends a line.
fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    // Parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    chars.next();
                    // Until BEL or ESC \.
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' => out.push('\n'),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() => out.push(' '),
            // Bidirectional overrides can make text read differently from what it is.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The value after an `Authorization:` header name (any scheme) is replaced, whatever it is.
fn redact_authorization(mut words: Vec<String>) -> Vec<String> {
    let mut i = 0;
    while i < words.len() {
        if words[i].to_ascii_lowercase().ends_with("authorization:") {
            let scheme = words
                .get(i + 1)
                .is_some_and(|w| w.chars().all(|c| c.is_ascii_alphabetic()) && w.len() <= 10);
            let at = if scheme { i + 2 } else { i + 1 };
            if let Some(value) = words.get_mut(at)
                && !value.is_empty()
            {
                *value = REDACTED.to_string();
            }
            i = at;
        }
        i += 1;
    }
    words
}

/// Whether `token` is base64 of text that holds `key` (`user:key` in a Basic header).
fn encodes_key(token: &str, key: Option<&str>) -> bool {
    use base64::Engine;
    let Some(key) = key else { return false };
    if token.len() < 16 {
        return false;
    }
    [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ]
    .iter()
    .any(|engine| {
        engine
            .decode(token)
            .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(key))
    })
}

/// A word holding something key-shaped (28 characters starting `sim`, alone or inside
/// punctuation, a URL's user info or a header), or base64 of the key, is replaced.
fn redact_word(word: &str, key: Option<&str>) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if (token.len() >= 28 && token.contains("sim") && has_key_inside(token))
            || encodes_key(token, key)
        {
            out.push_str(REDACTED);
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in word.chars() {
        if c.is_ascii_alphanumeric() || "+/=_-".contains(c) {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// Whether any 28-character window starting at `sim` looks like a key.
fn has_key_inside(token: &str) -> bool {
    token
        .match_indices("sim")
        .any(|(i, _)| token.len() >= i + 28)
}

#[cfg(test)]
mod inert_tests {
    use super::inert;

    #[test]
    fn controls_and_invisible_characters_become_escapes() {
        assert_eq!(inert("a\u{1b}[8mb"), "a\\e[8mb");
        assert_eq!(inert("x\u{202e}y\u{200b}z"), "x\\u{202e}y\\u{200b}z");
        assert_eq!(inert("bell\u{7}"), "bell\\u{7}");
        assert_eq!(inert("C1\u{9b}"), "C1\\u{9b}");
        assert_eq!(inert("tab\tstays\nnewline too"), "tab\tstays\nnewline too");
        assert_eq!(inert("plain text: é ✓"), "plain text: é ✓");
    }

    #[test]
    fn no_line_can_start_a_workflow_command() {
        assert_eq!(inert("::add-mask::create"), "\\::add-mask::create");
        assert_eq!(
            inert("ok\n    ::stop-commands::tok\n  a::b"),
            "ok\n    \\::stop-commands::tok\n  a::b"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escapes_and_controls_are_removed() {
        let key = "simExactKey0000000000000000x";
        let text = "denied \u{1b}[31mred\u{1b}[0m for simExactKey0000000000000000x and simOTHERSHAPEDKEY000000000000 \u{7}bell";
        let got = line(text, Some(key), 200);
        assert_eq!(got, "denied red for (redacted) and (redacted) bell");
    }

    #[test]
    fn key_shapes_inside_punctuation_and_urls() {
        let got = line(
            "https://demo:simAAAAAAAAAAAAAAAAAAAAAAAAA@host/x \"simBBBBBBBBBBBBBBBBBBBBBBBBB\"",
            None,
            200,
        );
        assert!(!got.contains("simA") && !got.contains("simB"), "{got}");
        assert!(got.starts_with("https://demo:(redacted)@host/x"), "{got}");
    }

    #[test]
    fn base64_of_the_key_and_authorization_values_are_removed() {
        use base64::Engine;
        let key = "notShapedSecret";
        let basic = base64::engine::general_purpose::STANDARD.encode("demo:notShapedSecret");
        let got = line(
            &format!("> Authorization: Basic {basic} and {basic}"),
            Some(key),
            300,
        );
        assert_eq!(got, "> Authorization: Basic (redacted) and (redacted)");
        let got = line("authorization: Bearer abc.def", None, 300);
        assert_eq!(got, "authorization: Bearer (redacted)");
    }

    #[test]
    fn lines_are_kept_and_length_is_capped() {
        let got = lines(
            "remote: one\r\nremote: two\n\u{1b}]0;title\u{7}three",
            None,
            200,
        );
        assert_eq!(got, "remote: one\nremote: two\nthree");
        assert_eq!(line(&"x".repeat(500), None, 10).chars().count(), 10);
    }
}
