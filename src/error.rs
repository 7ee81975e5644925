//! The one error type of the program: what went wrong, with the names the user needs, and the
//! exit code it maps to (README, "Exit codes").

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// One or more manifests are invalid; their diagnostics were already reported.
    ManifestInvalid {
        invalid: usize,
        checked: usize,
        problems: usize,
    },
    /// Writing output failed (a closed pipe is not an error: see `main`).
    Output { source: std::io::Error },
    /// The command line is valid for clap but not usable (exit 64).
    Usage { message: String },
    /// The emulator could not start or stopped with an error.
    #[cfg(feature = "emulator")]
    Emulator { source: crate::emulator::Error },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::ManifestInvalid { .. } => 3,
            Error::Output { .. } => 1,
            Error::Usage { .. } => 64,
            #[cfg(feature = "emulator")]
            Error::Emulator { .. } => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ManifestInvalid {
                invalid,
                checked,
                problems,
            } => {
                let plural = |n: usize, word: &str| {
                    if n == 1 {
                        format!("{n} {word}")
                    } else {
                        format!("{n} {word}s")
                    }
                };
                write!(
                    f,
                    "{invalid} of {} invalid ({})",
                    plural(*checked, "manifest"),
                    plural(*problems, "problem")
                )
            }
            Error::Output { .. } => write!(f, "cannot write output"),
            Error::Usage { message } => f.write_str(message),
            #[cfg(feature = "emulator")]
            Error::Emulator { source } => write!(f, "{source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ManifestInvalid { .. } | Error::Usage { .. } => None,
            #[cfg(feature = "emulator")]
            Error::Emulator { source } => std::error::Error::source(source),
            Error::Output { source } => Some(source),
        }
    }
}
