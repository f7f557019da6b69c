//! `network-traffic` and its predefined extensions: HTTP request, ICMP, socket and TCP.
//!
//! Invariants: as everywhere in `types_sco`, properties are checked in a fixed order, so a
//! record's messages come in a stable order; the rule relating `start` and `end` applies only
//! to a top-level 2.1 object.

use super::{dictionary, extensions_dict, Sco};
use crate::json::Json;
use crate::rules::Ctx;
use crate::strict::is_hex;

pub(super) fn network_traffic(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    extensions_dict(
        s,
        ctx,
        &[
            ("http-request-ext", http_request_ext),
            ("icmp-ext", icmp_ext),
            ("socket-ext", socket_ext),
            ("tcp-ext", tcp_ext),
        ],
    );
    s.ts(&["start", "end"], ctx);
    s.str(
        &[
            "src_ref",
            "dst_ref",
            "src_payload_ref",
            "dst_payload_ref",
            "encapsulated_by_ref",
        ],
        ctx,
    );
    s.int(&["src_port", "dst_port"], 0, 65535, ctx);
    s.required("protocols", ctx);
    s.list_str(&["protocols"], 1, ctx);
    s.int(
        &[
            "src_byte_count",
            "dst_byte_count",
            "src_packets",
            "dst_packets",
        ],
        i64::MIN,
        i64::MAX,
        ctx,
    );
    if let Some(v) = s.get("ipfix") {
        let here = s.path("ipfix");
        dictionary(v, &here, ctx);
        if let Some(o) = v.as_object() {
            for (k, x) in o.iter() {
                if !(x.as_str().is_some()
                    || matches!(x, Json::Number(n) if n.is_i64() || n.is_u64()))
                {
                    ctx.error(&here.key(k), "Must be a string or an integer", x);
                }
            }
        }
    }
    s.list_str(&["encapsulates_refs"], usize::from(v21), ctx);
    s.any_of(&["src_ref", "dst_ref"], ctx);
    match s.get("is_active") {
        None | Some(Json::Bool(false)) => {}
        Some(Json::Bool(true)) => {
            if s.has("end") {
                s.fail("end", "Must not be present when is_active is true", ctx);
            }
        }
        Some(_) => s.fail("is_active", "Must be a boolean", ctx),
    }
    if v21 && s.at.is_none() {
        let parse = |k| {
            s.get(k)
                .and_then(Json::as_str)
                .and_then(|t| crate::Timestamp::parse(t).ok())
        };
        if let (Some(start), Some(end)) = (parse("start"), parse("end")) {
            if end < start {
                s.fail("end", "Must be later than or equal to start", ctx);
            }
        }
    }
}

fn http_request_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("request_method", ctx);
    s.required("request_value", ctx);
    s.str(
        &[
            "request_method",
            "request_value",
            "request_version",
            "message_body_data_ref",
        ],
        ctx,
    );
    s.int(&["message_body_length"], i64::MIN, i64::MAX, ctx);
    // A 2.1 header has a list of values, a 2.0 header one value.
    let header_ok = |k: &str, x: &Json<'_>| {
        let value_ok = if v21 {
            x.as_array()
                .is_some_and(|a| a.iter().all(|i| i.as_str().is_some()))
        } else {
            x.as_str().is_some()
        };
        !k.is_empty() && value_ok
    };
    s.dict_entries(
        "request_header",
        header_ok,
        "Header value has the wrong type",
        ctx,
    );
}

fn icmp_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    for k in ["icmp_type_hex", "icmp_code_hex"] {
        s.required(k, ctx);
        s.fmt(k, is_hex, "Must be hexadecimal octets", ctx);
    }
}

fn socket_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("address_family", ctx);
    s.one_of(
        "address_family",
        &[
            "AF_UNSPEC",
            "AF_INET",
            "AF_IPX",
            "AF_APPLETALK",
            "AF_NETBIOS",
            "AF_INET6",
            "AF_IRDA",
            "AF_BTH",
        ],
        ctx,
    );
    s.bool(&["is_blocking", "is_listening"], ctx);
    s.one_of(
        "socket_type",
        &[
            "SOCK_STREAM",
            "SOCK_DGRAM",
            "SOCK_RAW",
            "SOCK_RDM",
            "SOCK_SEQPACKET",
        ],
        ctx,
    );
    s.int(&["socket_descriptor"], 0, i64::MAX, ctx);
    s.int(&["socket_handle"], i64::MIN, i64::MAX, ctx);
    if let Some(v) = s.get("options") {
        let here = s.path("options");
        dictionary(v, &here, ctx);
        if v21 {
            if let Some(o) = v.as_object() {
                for (k, x) in o.iter() {
                    let prefix_ok = ["SO", "ICMP", "ICMP6", "IP", "IPV6", "MCAST", "TCP", "IRLMP"]
                        .iter()
                        .any(|p| {
                            k.strip_prefix(p).is_some_and(|rest| {
                                !rest.is_empty()
                                    && rest.split('_').skip(1).all(|w| {
                                        !w.is_empty() && w.bytes().all(|c| c.is_ascii_uppercase())
                                    })
                                    && rest.starts_with('_')
                            })
                        });
                    if !prefix_ok || !matches!(x, Json::Number(n) if n.is_i64() || n.is_u64()) {
                        ctx.error(
                            &here.key(k),
                            "Socket options are SO_*-style names with integer values",
                            x,
                        );
                    }
                }
            }
        }
    }
}

fn tcp_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    for k in ["src_flags_hex", "dst_flags_hex"] {
        s.fmt(k, is_hex, "Must be hexadecimal octets", ctx);
    }
    s.any_of(&["src_flags_hex", "dst_flags_hex"], ctx);
}
