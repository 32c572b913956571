//! One module per subcommand.

pub(crate) mod bench;
pub(crate) mod client_opts;
pub(crate) mod ctl;
pub(crate) mod passwd;
pub(crate) mod publish;
pub(crate) mod start;
pub(crate) mod subscribe;
