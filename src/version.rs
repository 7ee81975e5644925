//! Semantic versions as Algorithmia publishes them (`MAJOR.MINOR.PATCH`, digits only, no
//! leading zeros, no pre-release part) and the bump (`version_type`) between two of them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub const ZERO: Version = Version {
        major: 0,
        minor: 0,
        patch: 0,
    };

    /// `1.2.3`; `None` for anything else (`01.2.3`, `1.2`, `1.2.3-rc1`, `v1.2.3`).
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.split('.');
        let mut next = || {
            let part = parts.next()?;
            if part.is_empty()
                || !part.chars().all(|c| c.is_ascii_digit())
                || (part.len() > 1 && part.starts_with('0'))
            {
                return None;
            }
            part.parse().ok()
        };
        let version = Version {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        parts.next().is_none().then_some(version)
    }

    pub fn bumped(self, bump: Bump) -> Version {
        match bump {
            Bump::Major => Version {
                major: self.major + 1,
                minor: 0,
                patch: 0,
            },
            Bump::Minor => Version {
                minor: self.minor + 1,
                patch: 0,
                ..self
            },
            Bump::Revision => Version {
                patch: self.patch + 1,
                ..self
            },
        }
    }

    /// The bump that leads from `self` to `next`, if it is exactly one.
    pub fn bump_to(self, next: Version) -> Option<Bump> {
        [Bump::Major, Bump::Minor, Bump::Revision]
            .into_iter()
            .find(|b| self.bumped(*b) == next)
    }

    /// The three versions one bump above `latest` (or the first versions from nothing).
    pub fn next_after(latest: Option<Version>) -> [Version; 3] {
        let base = latest.unwrap_or(Version::ZERO);
        [
            base.bumped(Bump::Revision),
            base.bumped(Bump::Minor),
            base.bumped(Bump::Major),
        ]
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Version, D::Error> {
        let text = String::deserialize(deserializer)?;
        Version::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not MAJOR.MINOR.PATCH")))
    }
}

/// Which part of the version a publish bumps (Algorithmia's `version_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Major,
    Minor,
    Revision,
}

impl Bump {
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::Major => "major",
            Bump::Minor => "minor",
            Bump::Revision => "revision",
        }
    }
}

/// "1.1.1, 1.2.0 or 2.0.0".
pub fn list(versions: &[Version]) -> String {
    let text: Vec<String> = versions.iter().map(ToString::to_string).collect();
    match text.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict() {
        assert_eq!(
            Version::parse("1.10.0"),
            Some(Version {
                major: 1,
                minor: 10,
                patch: 0
            })
        );
        for bad in [
            "01.0.0",
            "1.0",
            "1.0.0.0",
            "1.0.0-rc1",
            "v1.0.0",
            "",
            "1..0",
            "1.0.x",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bumps_and_the_versions_after() {
        let v = Version::parse("1.1.0").unwrap();
        assert_eq!(
            v.bump_to(Version::parse("2.0.0").unwrap()),
            Some(Bump::Major)
        );
        assert_eq!(
            v.bump_to(Version::parse("1.1.1").unwrap()),
            Some(Bump::Revision)
        );
        assert_eq!(v.bump_to(Version::parse("1.3.0").unwrap()), None);
        assert_eq!(list(&Version::next_after(Some(v))), "1.1.1, 1.2.0 or 2.0.0");
        assert_eq!(list(&Version::next_after(None)), "0.0.1, 0.1.0 or 1.0.0");
    }
}
