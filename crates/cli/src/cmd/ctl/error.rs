//! What can go wrong in `starling ctl`, and the exit code each kind gives. Scripts rely on
//! the codes, so every failure goes through [`CtlError`] and its [`CtlError::exit_code`].

use std::fmt;
use std::process::ExitCode;

/// Exit code: the API refused the request (HTTP 4xx other than 404), or ctl could not do
/// what was asked (a password prompt failed, stdout closed).
pub(crate) const EXIT_REFUSED: u8 = 1;
/// Exit code: bad command line (clap's own code, also used for values ctl checks itself).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: the API cannot be reached or failed (connection refused, timeout, HTTP 5xx,
/// an answer that is not the JSON expected).
pub(crate) const EXIT_UNAVAILABLE: u8 = 3;
/// Exit code: the API answered 404 (no such client, retained message, ban, account, ...).
pub(crate) const EXIT_NOT_FOUND: u8 = 4;

/// A failure of one `starling ctl` invocation.
#[derive(Debug)]
pub(crate) enum CtlError {
    /// The API answered with an error status.
    Api {
        /// The HTTP status.
        status: u16,
        /// The body's `code` (`BAD_REQUEST`, `CHANGE_PASSWORD_REQUIRED`, ...), if it had one.
        code: String,
        /// The body's `message`, or the body itself.
        message: String,
    },
    /// The account must change its default password before anything else.
    MustChangePassword {
        /// The account.
        username: String,
    },
    /// The request never got an answer, or not one ctl understands.
    Unreachable(String),
    /// A value on the command line is wrong (checked by ctl rather than clap).
    Usage(String),
    /// Anything else (a prompt, writing the output).
    Local(String),
}

impl CtlError {
    /// The exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Api { status: 404, .. } => EXIT_NOT_FOUND,
            Self::Api { status, .. } if *status >= 500 => EXIT_UNAVAILABLE,
            Self::Api { .. } | Self::MustChangePassword { .. } | Self::Local(_) => EXIT_REFUSED,
            Self::Unreachable(_) => EXIT_UNAVAILABLE,
            Self::Usage(_) => EXIT_USAGE,
        }
    }

    /// Prints the failure on stderr and gives its exit code.
    pub(crate) fn report(&self) -> ExitCode {
        eprintln!("starling ctl: {self}");
        ExitCode::from(self.exit_code())
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                status,
                code,
                message,
            } => {
                if code.is_empty() {
                    write!(f, "the API refused the request (HTTP {status}): {message}")
                } else {
                    write!(
                        f,
                        "the API refused the request (HTTP {status} {code}): {message}"
                    )
                }
            }
            Self::MustChangePassword { username } => write!(
                f,
                "the account {username:?} still has its default password and must change it \
                 before anything else: run `starling ctl --username {username} change-password` \
                 (it asks for the new password, or takes --new-password)"
            ),
            Self::Unreachable(why) | Self::Usage(why) | Self::Local(why) => f.write_str(why),
        }
    }
}

impl From<std::io::Error> for CtlError {
    fn from(e: std::io::Error) -> Self {
        Self::Local(e.to_string())
    }
}

/// The result of a ctl step.
pub(crate) type CtlResult<T> = Result<T, CtlError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> CtlError {
        CtlError::Api {
            status,
            code: String::new(),
            message: String::new(),
        }
    }

    #[test]
    fn each_kind_of_failure_has_its_exit_code() {
        assert_eq!(api(400).exit_code(), EXIT_REFUSED);
        assert_eq!(api(401).exit_code(), EXIT_REFUSED);
        assert_eq!(api(409).exit_code(), EXIT_REFUSED);
        assert_eq!(api(404).exit_code(), EXIT_NOT_FOUND);
        assert_eq!(api(503).exit_code(), EXIT_UNAVAILABLE);
        assert_eq!(
            CtlError::Unreachable(String::new()).exit_code(),
            EXIT_UNAVAILABLE
        );
        assert_eq!(CtlError::Usage(String::new()).exit_code(), EXIT_USAGE);
        let change = CtlError::MustChangePassword {
            username: "admin".into(),
        };
        assert_eq!(change.exit_code(), EXIT_REFUSED);
        assert!(change
            .to_string()
            .contains("starling ctl --username admin change-password"));
    }
}
