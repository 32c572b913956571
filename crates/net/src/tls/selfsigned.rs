//! The certificates a TLS listener uses when none is configured: on the first start a
//! self-signed CA and a server certificate it issued (for `localhost`, `127.0.0.1`, `::1` and
//! the host name) are written to `<data_dir>/certs` with rcgen, and kept for later starts, so
//! that 8883 and 8084 answer right after installation and clients can trust `ca.pem`.

use crate::NetError;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// The generated files.
#[derive(Debug, Clone)]
pub struct DefaultCerts {
    /// The CA certificate (give it to clients: `--cafile`).
    pub ca: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// Whether this call created them.
    pub created: bool,
    /// SHA-256 of the server certificate (DER), as colon-separated hex.
    pub fingerprint: String,
}

/// The files in `dir` (`ca.pem`, `ca.key`, `server.pem`, `server.key`), made now if any is
/// missing.
pub fn ensure(dir: &Path) -> Result<DefaultCerts, NetError> {
    let paths = ["ca.pem", "ca.key", "server.pem", "server.key"].map(|f| dir.join(f));
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |e: std::io::Error| NetError::TlsFile {
            what,
            path,
            reason: e.to_string(),
        }
    };
    let created = !paths.iter().all(|p| p.exists());
    if created {
        std::fs::create_dir_all(dir).map_err(io("certificate directory", dir))?;
        let (ca_pem, ca_key, server_pem, server_key) =
            generate().map_err(|e| NetError::TlsConfig(format!("generating certificates: {e}")))?;
        for (path, text, secret) in [
            (&paths[0], ca_pem, false),
            (&paths[1], ca_key, true),
            (&paths[2], server_pem, false),
            (&paths[3], server_key, true),
        ] {
            write(path, &text, secret).map_err(io("generated certificate file", path))?;
        }
    }
    let der = super::client::certificates(&paths[2], "certificate file")?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der[0].as_ref());
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let [ca, _, cert, key] = paths;
    Ok(DefaultCerts {
        ca,
        cert,
        key,
        created,
        fingerprint,
    })
}

/// Writes `text` to `path` (readable by the owner only when `secret`), through a temporary file
/// so a crash leaves no half-written file.
fn write(path: &Path, text: &str, secret: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    std::fs::rename(&tmp, path)
}

fn generate() -> Result<(String, String, String, String), rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Starling self-signed CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "Starling");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = rcgen::date_time_ymd(2025, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca, ca_key);

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = host_name() {
        names.push(host);
    }
    let mut server = CertificateParams::new(names)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "Starling broker");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = rcgen::date_time_ymd(2025, 1, 1);
    server.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;
    Ok((
        ca_pem,
        issuer.key().serialize_pem(),
        server_cert.pem(),
        server_key.serialize_pem(),
    ))
}

/// The machine's host name, when it is a usable DNS name.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name != "localhost"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then(|| name.to_owned())
}
