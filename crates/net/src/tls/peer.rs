//! The names of a verified client certificate that `peer_cert_as_username` and
//! `peer_cert_as_clientid` can use: the subject's common name, and the first subject
//! alternative name.

use rustls_pki_types::CertificateDer;
use starling_config::PeerCertField;
use std::net::IpAddr;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The names of a client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerNames {
    /// The subject's first common name.
    pub cn: Option<String>,
    /// The first subject alternative name: DNS name, e-mail, URI or IP address.
    pub san: Option<String>,
}

impl PeerNames {
    /// The names in `cert` (DER); empty when it cannot be parsed (it was verified already, so
    /// that would be a name form this does not read).
    pub fn of(cert: &CertificateDer<'_>) -> Self {
        let Ok((_, parsed)) = X509Certificate::from_der(cert.as_ref()) else {
            return Self::default();
        };
        let cn = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let san = parsed
            .subject_alternative_name()
            .ok()
            .flatten()
            .and_then(|ext| ext.value.general_names.iter().find_map(general_name));
        Self { cn, san }
    }

    /// The name `field` picks.
    pub fn pick(&self, field: PeerCertField) -> Option<&str> {
        match field {
            PeerCertField::None => None,
            PeerCertField::Cn => self.cn.as_deref(),
            PeerCertField::San => self.san.as_deref(),
        }
    }
}

fn general_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
            Some((*s).to_owned())
        }
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(*bytes)
                .ok()
                .map(|b| IpAddr::from(b).to_string()),
            16 => <[u8; 16]>::try_from(*bytes)
                .ok()
                .map(|b| IpAddr::from(b).to_string()),
            _ => None,
        },
        _ => None,
    }
}
