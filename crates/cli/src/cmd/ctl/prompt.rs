//! Passwords ctl has to ask for: the account's, when `--username` comes without
//! `--password`, and a new one (`change-password`, `users add`) without `--new-password`.
//! Asked on the terminal without echo; a new password may also be piped in on stdin (one
//! line), so scripts need not put it on a command line, where other users of the machine see
//! it.

use std::io::{BufRead as _, IsTerminal as _};
use zeroize::Zeroizing;

use super::error::{CtlError, CtlResult};

/// The password of `username`: `given`, else asked on the terminal.
pub(crate) fn password(username: &str, given: Option<&str>) -> CtlResult<Zeroizing<String>> {
    if let Some(p) = given {
        return Ok(Zeroizing::new(p.to_owned()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CtlError::Usage(format!(
            "--username {username} needs --password (or STARLING_API_PASSWORD)"
        )));
    }
    let typed = rpassword::prompt_password(format!("Password for {username}: "))?;
    Ok(Zeroizing::new(typed))
}

/// A new password: `given`, else typed twice on the terminal, else one line of stdin.
pub(crate) fn new_password(given: Option<&str>) -> CtlResult<Zeroizing<String>> {
    if let Some(p) = given {
        return Ok(Zeroizing::new(p.to_owned()));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = Zeroizing::new(rpassword::prompt_password("New password: ")?);
        let second = Zeroizing::new(rpassword::prompt_password("Repeat the new password: ")?);
        if first != second {
            return Err(CtlError::Usage("the two passwords differ".into()));
        }
        return Ok(first);
    }
    let mut line = Zeroizing::new(String::new());
    stdin.lock().read_line(&mut line)?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if trimmed.is_empty() {
        return Err(CtlError::Usage(
            "no new password: give --new-password, type it on a terminal, or pipe one line".into(),
        ));
    }
    Ok(trimmed)
}
