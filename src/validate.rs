//! `algodeploy validate`: check every manifest the paths name (`manifest::load_paths`) and
//! report every problem in the chosen format.

use std::io::Write;

use crate::cli::{Format, ValidateArgs};
use crate::diagnostic::FileReport;
use crate::error::Error;
use crate::manifest::load_paths;

pub fn run(args: &ValidateArgs, color: bool) -> Result<(), Error> {
    let (valid, reports) = load_paths(&args.paths);
    let checked = valid.len() + reports.len();
    let write = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .map_err(|source| Error::Output { source })
    };
    match args.format {
        Format::Text => {
            // `color` already says whether to colour (a terminal, NO_COLOR, CLICOLOR_FORCE):
            // the text is written as rendered.
            let mut err = std::io::stderr().lock();
            for report in &reports {
                write(&mut err, &report.render_text(color))?;
            }
            for loaded in &valid {
                let m = &loaded.manifest;
                write(
                    &mut err,
                    &format!(
                        "valid: {} ({}/{} {})\n",
                        crate::diagnostic::display_path(&loaded.path),
                        m.owner,
                        m.name,
                        m.version_info.semantic_version
                    ),
                )?;
            }
        }
        Format::Json => {
            let all: Vec<_> = reports.iter().flat_map(FileReport::to_json).collect();
            let text = serde_json::to_string_pretty(&all).expect("diagnostics serialize");
            crate::error::print(text + "\n")?;
        }
        Format::Github => {
            let text: String = reports.iter().map(FileReport::render_github).collect();
            crate::error::print(text)?;
        }
    }
    if reports.is_empty() {
        Ok(())
    } else {
        Err(Error::manifest_invalid(&reports, checked))
    }
}
