//! The sanitiser for text from outside (a server, git, a manifest, an algorithm): the rules live
//! in `algodeploy_platform::text`, shared with the emulator; here they take the [`ApiKey`], so
//! the exact key is redacted wherever such text is shown.

use crate::config::ApiKey;

pub use algodeploy_platform::text::{REDACTED, hides, inert};

/// One line: the key and key-shaped words redacted, escapes and controls removed, white space
/// runs made one space, at most `max_chars`.
pub fn line(text: &str, key: Option<&ApiKey>, max_chars: usize) -> String {
    algodeploy_platform::text::line(text, key.map(ApiKey::expose), max_chars)
}

/// Several lines kept as lines (git's own messages), each stripped, at most `max_chars` in all.
pub fn lines(text: &str, key: Option<&ApiKey>, max_chars: usize) -> String {
    algodeploy_platform::text::lines(text, key.map(ApiKey::expose), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exact_key_is_redacted_whatever_its_shape() {
        let key = ApiKey::new("notShapedSecret".into());
        assert_eq!(
            line("a notShapedSecret b", Some(&key), 100),
            "a (redacted) b"
        );
    }
}
