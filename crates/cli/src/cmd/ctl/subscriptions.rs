//! `subscriptions`: every client's subscriptions (`GET /api/v5/subscriptions`), filtered.

use clap::Args;

use super::client::{Api, Query};
use super::error::CtlResult;
use super::page::{self, PageArgs};
use super::table::{text, Column, Output};

/// `subscriptions` filters (EMQX's names).
#[derive(Args, Debug)]
pub(crate) struct SubscriptionArgs {
    /// One client's only.
    #[arg(long)]
    clientid: Option<String>,
    /// Filters equal to this one, as written (`$share/g/t` included).
    #[arg(long)]
    topic: Option<String>,
    /// Filters that match this topic name.
    #[arg(long)]
    match_topic: Option<String>,
    /// Granted QoS.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: Option<u8>,
    /// One share group's only.
    #[arg(long)]
    share_group: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

/// The columns of a subscription, here and in `clients show`.
pub(crate) const COLUMNS: &[Column] = &[
    ("CLIENTID", |v| text(&v["clientid"])),
    ("TOPIC", |v| text(&v["topic"])),
    ("QOS", |v| text(&v["qos"])),
    ("NL", |v| text(&v["nl"])),
    ("RAP", |v| text(&v["rap"])),
    ("RH", |v| text(&v["rh"])),
    ("SUBID", |v| text(&v["subid"])),
];

/// Lists subscriptions.
pub(crate) fn run(api: &Api, args: &SubscriptionArgs, out: Output) -> CtlResult<()> {
    let query = Query::new()
        .opt("clientid", args.clientid.as_ref())
        .opt("topic", args.topic.as_ref())
        .opt("match_topic", args.match_topic.as_ref())
        .opt("qos", args.qos)
        .opt("share_group", args.share_group.as_ref());
    let answer = page::fetch(api, "/api/v5/subscriptions", query, &args.page)?;
    out.list(&answer, COLUMNS)
}
