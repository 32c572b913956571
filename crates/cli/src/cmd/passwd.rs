//! `starling passwd`: manage a Mosquitto-compatible password file, with `mosquitto_passwd`'s
//! flags.
//!
//! ```text
//! starling passwd [-H ALGORITHM] [-I ITERATIONS] [-c | -D] passwordfile username
//! starling passwd [-H ALGORITHM] [-I ITERATIONS] [-c] -b passwordfile username password
//! starling passwd [-H ALGORITHM] [-I ITERATIONS] -U passwordfile
//! ```
//!
//! Without `-b` the password is read twice from the terminal, without echo; when standard
//! input is not a terminal, one line of it is the password (so scripts can pipe it in without
//! putting it on a command line, where other users see it). Differences from
//! `mosquitto_passwd`: `-U` keeps lines that are already hashed (Mosquitto 2.0 hashes the
//! hash again), comments and blank lines survive every edit, and the file is replaced
//! atomically (a temporary file in the same directory, fsync, rename: a crash leaves the old
//! file or the new one, never half of one) with mode 0600. Nothing printed holds a password
//! or a hash.

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use starling_auth::password_file::{
    validate_username, EditablePasswordFile, HashAlgorithm, Iterations, PasswordFileError,
    PasswordHash,
};
use std::fmt;
use std::io::{BufRead as _, ErrorKind, IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The forms of the command line, as `mosquitto_passwd` prints them (a macro, for `concat!`).
macro_rules! usage_lines {
    () => {
        "starling passwd [-H ALGORITHM] [-I ITERATIONS] [-c | -D] passwordfile username\n       \
         starling passwd [-H ALGORITHM] [-I ITERATIONS] [-c] -b passwordfile username password\n       \
         starling passwd [-H ALGORITHM] [-I ITERATIONS] -U passwordfile"
    };
}

/// The longest password: what an MQTT client can send.
const MAX_PASSWORD_BYTES: usize = 65_535;

/// `starling passwd`.
#[derive(Args)]
#[command(override_usage = usage_lines!())]
pub(crate) struct PasswdArgs {
    /// Create a new password file; an existing one is overwritten.
    #[arg(short = 'c', conflicts_with_all = ["delete", "update"])]
    create: bool,
    /// Delete the user rather than adding or updating its password.
    #[arg(short = 'D', conflicts_with_all = ["update", "batch"])]
    delete: bool,
    /// Batch mode: the password is the last argument (visible to other users of the machine).
    #[arg(short = 'b', conflicts_with = "update")]
    batch: bool,
    /// Hash the plain-text passwords of a file of `user:password` lines, in place.
    #[arg(short = 'U')]
    update: bool,
    /// Hash algorithm. sha512 is what Mosquitto 1.6 and earlier wrote: weak, for old brokers.
    #[arg(short = 'H', value_name = "ALGORITHM", default_value = "sha512-pbkdf2")]
    hash: HashName,
    /// PBKDF2 rounds for sha512-pbkdf2 [default: 101].
    #[arg(short = 'I', value_name = "ITERATIONS",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(Iterations::MAX)))]
    iterations: Option<u32>,
    /// The password file.
    #[arg(value_name = "passwordfile")]
    file: PathBuf,
    /// The user to add, update or delete.
    #[arg(value_name = "username")]
    username: Option<String>,
    /// The password, with -b.
    #[arg(value_name = "password", allow_hyphen_values = true)]
    password: Option<String>,
}

impl fmt::Debug for PasswdArgs {
    /// Everything but the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswdArgs")
            .field("create", &self.create)
            .field("delete", &self.delete)
            .field("batch", &self.batch)
            .field("update", &self.update)
            .field("hash", &self.hash)
            .field("iterations", &self.iterations)
            .field("file", &self.file)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `-H`'s values, named as `mosquitto_passwd` names them.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum HashName {
    /// PBKDF2-HMAC-SHA512 (`$7$`), the default.
    #[value(name = "sha512-pbkdf2")]
    Sha512Pbkdf2,
    /// One round of salted SHA-512 (`$6$`).
    #[value(name = "sha512")]
    Sha512,
}

/// What the command line asks for, checked.
enum Action {
    /// Set `username`'s password; `create` starts from an empty file. `None`: ask for it.
    Set {
        create: bool,
        username: String,
        password: Option<Zeroizing<String>>,
    },
    Delete {
        username: String,
    },
    Update,
}

/// Appended to an error about which arguments go together.
const USAGE: &str = concat!(
    "usage: ",
    usage_lines!(),
    "\n(starling passwd --help for more)"
);

/// Runs `starling passwd`.
pub(crate) fn run(args: PasswdArgs) -> anyhow::Result<()> {
    let algorithm = algorithm(&args)?;
    let path = resolve(&args.file)?;
    match action(args)? {
        Action::Set {
            create,
            username,
            password,
        } => {
            let mut file = if create {
                EditablePasswordFile::new()
            } else {
                load(&path)?
            };
            let password = match password {
                Some(password) => password,
                None => read_password()?,
            };
            if password.len() > MAX_PASSWORD_BYTES {
                bail!("the password must be at most {MAX_PASSWORD_BYTES} bytes");
            }
            let hash = PasswordHash::generate(password.as_bytes(), algorithm);
            file.set(&username, &hash)?;
            write_atomically(&path, &file)
        }
        Action::Delete { username } => {
            let mut file = load(&path)?;
            if !file.remove(&username) {
                bail!("user {username:?} is not in {}", path.display());
            }
            write_atomically(&path, &file)
        }
        Action::Update => {
            let mut file = load(&path)?;
            file.hash_plain_text(algorithm, &path)?;
            write_atomically(&path, &file)
        }
    }
}

/// The file to edit; one that does not exist is an error that says how to create it.
fn load(path: &Path) -> anyhow::Result<EditablePasswordFile> {
    match EditablePasswordFile::load(path) {
        Err(PasswordFileError::Io { error, .. }) if error.kind() == ErrorKind::NotFound => {
            bail!(
                "password file {} does not exist (-c creates it)",
                path.display()
            )
        }
        result => Ok(result?),
    }
}

fn algorithm(args: &PasswdArgs) -> anyhow::Result<HashAlgorithm> {
    match (args.hash, args.iterations) {
        (HashName::Sha512, Some(_)) => bail!("-I applies to -H sha512-pbkdf2 only"),
        (HashName::Sha512, None) => Ok(HashAlgorithm::Sha512),
        (HashName::Sha512Pbkdf2, iterations) => {
            let iterations = match iterations {
                // clap checked the range.
                Some(count) => Iterations::new(count).context("-I: out of range")?,
                None => Iterations::DEFAULT,
            };
            Ok(HashAlgorithm::Pbkdf2Sha512(iterations))
        }
    }
}

/// Checks which arguments go with which flags, as `mosquitto_passwd` does.
fn action(args: PasswdArgs) -> anyhow::Result<Action> {
    if args.update {
        if args.username.is_some() {
            bail!("-U takes the password file only\n{USAGE}");
        }
        return Ok(Action::Update);
    }
    let Some(username) = args.username else {
        bail!("a username is needed\n{USAGE}");
    };
    validate_username(&username).with_context(|| format!("username {username:?}"))?;
    if args.delete {
        if args.password.is_some() {
            bail!("-D takes the password file and the username only\n{USAGE}");
        }
        return Ok(Action::Delete { username });
    }
    let password = match (args.batch, args.password) {
        (true, Some(password)) => Some(Zeroizing::new(password)),
        (true, None) => bail!("-b needs a password after the username\n{USAGE}"),
        (false, Some(_)) => bail!("a password on the command line needs -b\n{USAGE}"),
        (false, None) => None,
    };
    Ok(Action::Set {
        create: args.create,
        username,
        password,
    })
}

/// The file to replace: a symbolic link's target, so that the link stays a link.
fn resolve(path: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(real) => Ok(real),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(path.to_owned()),
        Err(error) => Err(error).with_context(|| format!("password file {}", path.display())),
    }
}

/// From the terminal, twice, without echo; or one line of standard input if it is not one.
fn read_password() -> anyhow::Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = Zeroizing::new(rpassword::prompt_password("Password: ")?);
        let second = Zeroizing::new(rpassword::prompt_password("Reenter password: ")?);
        if first != second {
            bail!("the passwords do not match");
        }
        first
    } else {
        let mut line = Zeroizing::new(String::new());
        // One byte more than a line can hold, to tell a long one from one at the limit.
        let limit = MAX_PASSWORD_BYTES as u64 + 2;
        stdin
            .lock()
            .take(limit)
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    };
    if password.is_empty() {
        bail!("empty password");
    }
    Ok(password)
}

/// Replaces `path` with `file`'s text: written to a temporary file in the same directory
/// (mode 0600), flushed to disk, renamed over `path`, and the directory flushed too.
fn write_atomically(path: &Path, file: &EditablePasswordFile) -> anyhow::Result<()> {
    let context = || format!("writing password file {}", path.display());
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .context("the password file has no file name")?;
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut temp = builder.tempfile_in(dir).with_context(context)?;
    let text = Zeroizing::new(file.to_text());
    temp.write_all(text.as_bytes()).with_context(context)?;
    temp.as_file().sync_all().with_context(context)?;
    temp.persist(path)
        .map_err(|error| error.error)
        .with_context(context)?;
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(context)?;
    Ok(())
}
