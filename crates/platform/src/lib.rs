//! What both sides of algodeploy share, and nothing else: the platform's build rules (which
//! files a runtime needs), the sanitiser for outside text, and lowercase hex for digests. The client (`algodeploy`) and the
//! emulator (`algodeploy-emulator`) depend on this crate and never on each other, so they share
//! no wire types: a field-name mistake on one side is caught by the other's tests.

pub mod entry_points;
pub mod text;

/// Bytes as lowercase hex (digests, keys, fingerprints): the one encoder both sides use.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(super::hex(&[0, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(super::hex(&[]), "");
    }
}
