//! `file` and its predefined extensions: NTFS, raster image, PDF, archive and Windows PE
//! binary.
//!
//! Invariants: as everywhere in `types_sco`, properties are checked in a fixed order, so a
//! record's messages come in a stable order; an extension's properties are reported under
//! `extensions.<name>.<property>`.

use super::{extensions_dict, Sco};
use crate::json::Json;
use crate::rules::{timestamp_of, Ctx};
use crate::strict::is_hex;

pub(super) fn file(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    extensions_dict(
        s,
        ctx,
        &[
            ("ntfs-ext", ntfs_ext),
            ("raster-image-ext", raster_image_ext),
            ("pdf-ext", pdf_ext),
            ("archive-ext", archive_ext),
            ("windows-pebinary-ext", pebinary_ext),
        ],
    );
    s.hashes("hashes", ctx);
    s.int(&["size"], 0, i64::MAX, ctx);
    s.str(
        &["name", "mime_type", "parent_directory_ref", "content_ref"],
        ctx,
    );
    s.charset("name_enc", ctx);
    s.fmt(
        "magic_number_hex",
        is_hex,
        "Must be hexadecimal octets",
        ctx,
    );
    s.mac_times(v21, ctx);
    s.list_str(&["contains_refs"], 1, ctx);
    s.any_of(&["hashes", "name"], ctx);
    if !v21 {
        match s.get("is_encrypted") {
            Some(Json::Bool(true)) => s.str(&["encryption_algorithm", "decryption_key"], ctx),
            Some(Json::Bool(false)) | None => {
                if s.has("encryption_algorithm") || s.has("decryption_key") {
                    s.fail(
                        "is_encrypted",
                        "encryption_algorithm and decryption_key require is_encrypted to be true",
                        ctx,
                    );
                }
            }
            Some(_) => s.fail("is_encrypted", "Must be a boolean", ctx),
        }
    }
}

fn ntfs_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.str(&["sid"], ctx);
    s.objects("alternate_data_streams", 0, ntfs_stream, ctx);
    s.any_of(&["sid", "alternate_data_streams"], ctx);
}

/// One of `alternate_data_streams`.
fn ntfs_stream(a: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    a.required("name", ctx);
    a.str(&["name"], ctx);
    a.hashes("hashes", ctx);
    a.int(&["size"], 0, i64::MAX, ctx);
}

fn raster_image_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.int(
        &["image_height", "image_width", "bits_per_pixel"],
        i64::MIN,
        i64::MAX,
        ctx,
    );
    if !v21 {
        s.str(&["image_compression_algorithm"], ctx);
    }
    s.dict_entries(
        "exif_tags",
        is_exif_tag,
        "EXIF tags are capitalised names with string or integer values",
        ctx,
    );
    s.any_of(
        &[
            "image_height",
            "image_width",
            "bits_per_pixel",
            "image_compression_algorithm",
            "exif_tags",
        ],
        ctx,
    );
}

/// An entry of `exif_tags`: a capitalised name with a string or integer value.
fn is_exif_tag(name: &str, value: &Json<'_>) -> bool {
    let b = name.as_bytes();
    let name_ok = b.len() >= 2
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    name_ok
        && (value.as_str().is_some()
            || matches!(value, Json::Number(n) if n.is_i64() || n.is_u64()))
}

fn pdf_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.str(&["version", "pdfid0", "pdfid1"], ctx);
    s.bool(&["is_optimized"], ctx);
    s.dict_entries(
        "document_info_dict",
        |_, x| x.as_str().is_some(),
        "Must be a string",
        ctx,
    );
    s.any_of(
        &[
            "version",
            "is_optimized",
            "document_info_dict",
            "pdfid0",
            "pdfid1",
        ],
        ctx,
    );
}

fn archive_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("contains_refs", ctx);
    s.list_str(&["contains_refs"], 1, ctx);
    s.str(&["comment"], ctx);
    if !v21 {
        s.str(&["version"], ctx);
    }
}

fn pebinary_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("pe_type", ctx);
    s.str(&["pe_type", "imphash"], ctx);
    for k in [
        "machine_hex",
        "pointer_to_symbol_table_hex",
        "characteristics_hex",
    ] {
        s.fmt(k, is_hex, "Must be hexadecimal octets", ctx);
    }
    s.int(
        &[
            "number_of_sections",
            "number_of_symbols",
            "size_of_optional_header",
        ],
        0,
        i64::MAX,
        ctx,
    );
    pe_time_date_stamp(s, ctx);
    s.hashes("file_header_hashes", ctx);
    pe_optional_header(s, v21, ctx);
    s.objects("sections", 1, pe_section, ctx);
    if v21 {
        s.any_of(
            &[
                "imphash",
                "machine_hex",
                "number_of_sections",
                "time_date_stamp",
                "pointer_to_symbol_table_hex",
                "number_of_symbols",
                "size_of_optional_header",
                "characteristics_hex",
                "file_header_hashes",
                "optional_header",
                "sections",
            ],
            ctx,
        );
    }
}

/// `time_date_stamp`: a timestamp precise to the second, as a PE header holds it.
fn pe_time_date_stamp(s: &Sco<'_, '_, '_>, ctx: &mut Ctx) {
    if let Some(v) = s.get("time_date_stamp") {
        let here = s.path("time_date_stamp");
        if timestamp_of(v, &here, ctx).is_some()
            && !v
                .as_str()
                .is_some_and(|t| t.len() == 20 && t.ends_with('Z'))
        {
            ctx.error(
                &here,
                "Must be precise to the second, without a fraction",
                v,
            );
        }
    }
}

/// `optional_header`: `*_hex` members are hexadecimal, `hashes` is a hashes dictionary, every
/// other member an integer; in 2.1 it must not be empty.
fn pe_optional_header(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    let Some(v) = s.get("optional_header") else {
        return;
    };
    let here = s.path("optional_header");
    let Some(o) = v.as_object() else {
        ctx.error(&here, "Must be an object", v);
        return;
    };
    let h = Sco {
        obj: o,
        at: Some(&here),
    };
    for (k, x) in o.iter() {
        if k.ends_with("_hex") {
            if !x.as_str().is_some_and(is_hex) {
                ctx.error(&here.key(k), "Must be hexadecimal octets", x);
            }
        } else if k == "hashes" {
            h.hashes("hashes", ctx);
        } else if !matches!(x, Json::Number(n) if n.is_i64() || n.is_u64()) {
            ctx.error(&here.key(k), "Must be an integer", x);
        }
    }
    if v21 && o.is_empty() {
        ctx.error(&here, "Must not be empty", v);
    }
}

/// One of `sections`, the PE binary's sections (a non-empty list).
fn pe_section(a: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    a.required("name", ctx);
    a.str(&["name"], ctx);
    a.int(&["size"], 0, i64::MAX, ctx);
    a.number(&["entropy"], ctx);
    a.hashes("hashes", ctx);
}
