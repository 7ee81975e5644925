//! The async runtime of one command, `--timeout` (with a watchdog), signals and locks.

use super::*;
use crate::apply;

/// The async runtime of one command, and the `--timeout` that bounds the whole run.
pub(super) struct Session {
    runtime: tokio::runtime::Runtime,
    deadline: Option<(tokio::time::Instant, std::time::Duration)>,
}

impl Session {
    pub(super) fn new(timeout: Option<std::time::Duration>) -> Session {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime starts");
        Session {
            runtime,
            deadline: timeout.map(|t| (tokio::time::Instant::now() + t, t)),
        }
    }

    pub(super) fn block<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, Error> {
        match self.deadline {
            None => Ok(self.runtime.block_on(work)),
            Some((at, after)) => self
                .runtime
                .block_on(async { tokio::time::timeout_at(at, work).await })
                .map_err(|_| Error::Timeout { after }),
        }
    }
}

/// `--timeout` bounds the whole run, not only its network work: a backstop that ends the
/// process shortly after the deadline if anything (a file read, a lock) is still going. The
/// async deadline of [`Session`] normally ends the run first, with the same message.
pub(super) fn watchdog(timeout: Option<std::time::Duration>) {
    let Some(after) = timeout else { return };
    std::thread::spawn(move || {
        std::thread::sleep(after + std::time::Duration::from_secs(1));
        let err = Error::Timeout { after };
        eprintln!("error: {err}");
        std::process::exit(err.exit_code());
    });
}

/// SIGINT/SIGTERM during apply: the first lets the request in flight finish and starts
/// nothing new (`apply::INTERRUPTED`); a second exits at once.
pub(super) fn interrupt_handler() {
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a signal runtime");
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            loop {
                let number = tokio::select! {
                    _ = interrupt.recv() => 2,
                    _ = terminate.recv() => 15,
                };
                if apply::INTERRUPTED.swap(number, std::sync::atomic::Ordering::SeqCst) != 0 {
                    eprintln!("interrupted again: stopping now");
                    std::process::exit(128 + number);
                }
                eprintln!("interrupted: letting the request in flight finish, then stopping (again to stop at once)");
            }
        });
    });
}

/// One OS lock per manifest, held for the whole apply.
pub(super) fn lock_all(
    loaded: &[Loaded],
    wait: std::time::Duration,
) -> Result<Vec<std::fs::File>, Error> {
    loaded
        .iter()
        .map(|l| match state::lock(&l.path, wait) {
            Ok(Ok(file)) => Ok(file),
            Ok(Err((path, holder))) => Err(Error::Locked { path, holder }),
            Err(source) => Err(source).at("lock", &state::path_for(&l.path)),
        })
        .collect()
}
