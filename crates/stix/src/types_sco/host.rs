//! The objects of a host: `process` (with its Windows process and service extensions),
//! `user-account` (with its Unix account extension) and `windows-registry-key`.
//!
//! Invariants: as everywhere in `types_sco`, properties are checked in a fixed order, so a
//! record's messages come in a stable order; what differs between 2.0 and 2.1 (property names,
//! required properties, the registry's data types) is told apart by `v21`.

use super::formats::registry_key_ok;
use super::{extensions_dict, Sco};
use crate::rules::Ctx;

pub(super) fn process(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    extensions_dict(
        s,
        ctx,
        &[
            ("windows-process-ext", windows_process_ext),
            ("windows-service-ext", windows_service_ext),
        ],
    );
    s.bool(&["is_hidden"], ctx);
    s.int(&["pid"], i64::MIN, i64::MAX, ctx);
    s.str(
        &[
            "cwd",
            "command_line",
            "creator_user_ref",
            "image_ref",
            "parent_ref",
        ],
        ctx,
    );
    if v21 {
        s.ts(&["created_time"], ctx);
    } else {
        s.ts(&["created"], ctx);
        s.str(&["name", "binary_ref"], ctx);
        s.list_str(&["arguments"], 0, ctx);
    }
    s.dict("environment_variables", ctx);
    s.list_str(&["opened_connection_refs", "child_refs"], 1, ctx);
    if v21 {
        s.any_of(
            &[
                "extensions",
                "is_hidden",
                "pid",
                "name",
                "created",
                "cwd",
                "arguments",
                "command_line",
                "environment_variables",
                "opened_connection_refs",
                "creator_user_ref",
                "image_ref",
                "parent_ref",
                "child_refs",
            ],
            ctx,
        );
    }
}

fn windows_process_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.bool(&["aslr_enabled", "dep_enabled"], ctx);
    s.str(&["priority", "owner_sid", "window_title"], ctx);
    s.dict("startup_info", ctx);
    if v21 {
        s.one_of("integrity_level", &["low", "medium", "high", "system"], ctx);
    }
    s.any_of(
        &[
            "aslr_enabled",
            "dep_enabled",
            "priority",
            "owner_sid",
            "window_title",
            "startup_info",
        ],
        ctx,
    );
}

fn windows_service_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.str(&["service_name", "display_name", "group_name"], ctx);
    s.list_str(&["descriptions", "service_dll_refs"], 1, ctx);
    s.one_of(
        "start_type",
        &[
            "SERVICE_AUTO_START",
            "SERVICE_BOOT_START",
            "SERVICE_DEMAND_START",
            "SERVICE_DISABLED",
            "SERVICE_SYSTEM_ALERT",
        ],
        ctx,
    );
    s.one_of(
        "service_type",
        &[
            "SERVICE_KERNEL_DRIVER",
            "SERVICE_FILE_SYSTEM_DRIVER",
            "SERVICE_WIN32_OWN_PROCESS",
            "SERVICE_WIN32_SHARE_PROCESS",
        ],
        ctx,
    );
    s.one_of(
        "service_status",
        &[
            "SERVICE_CONTINUE_PENDING",
            "SERVICE_PAUSE_PENDING",
            "SERVICE_PAUSED",
            "SERVICE_RUNNING",
            "SERVICE_START_PENDING",
            "SERVICE_STOP_PENDING",
            "SERVICE_STOPPED",
        ],
        ctx,
    );
    if v21 {
        s.any_of(
            &[
                "service_name",
                "descriptions",
                "display_name",
                "group_name",
                "start_type",
                "service_dll_refs",
                "service_type",
                "service_status",
            ],
            ctx,
        );
    } else {
        s.required("service_name", ctx);
    }
}

pub(super) fn user_account(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    extensions_dict(s, ctx, &[("unix-account-ext", unix_account_ext)]);
    s.str(
        &["user_id", "account_login", "account_type", "display_name"],
        ctx,
    );
    s.bool(
        &[
            "is_service_account",
            "is_privileged",
            "can_escalate_privs",
            "is_disabled",
        ],
        ctx,
    );
    s.ts(
        &[
            "account_created",
            "account_expires",
            "account_first_login",
            "account_last_login",
        ],
        ctx,
    );
    if v21 {
        s.str(&["credential"], ctx);
        s.ts(&["credential_last_changed"], ctx);
        s.any_of(
            &[
                "extensions",
                "user_id",
                "credential",
                "account_login",
                "account_type",
                "display_name",
                "is_service_account",
                "is_privileged",
                "can_escalate_privs",
                "is_disabled",
                "account_created",
                "account_expires",
                "credential_last_changed",
                "account_first_login",
                "account_last_login",
            ],
            ctx,
        );
    } else {
        s.ts(&["password_last_changed"], ctx);
        s.required("user_id", ctx);
    }
}

fn unix_account_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.number(&["gid"], ctx);
    s.list_str(&["groups"], 1, ctx);
    s.str(&["home_dir", "shell"], ctx);
    s.any_of(&["gid", "groups", "home_dir", "shell"], ctx);
}

pub(super) fn registry_key(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    if let Some(v) = s.get("key") {
        if !v.as_str().is_some_and(registry_key_ok) {
            s.fail(
                "key",
                "Must be a string naming the hive in full (HKEY_LOCAL_MACHINE, not HKLM)",
                ctx,
            );
        }
    }
    s.str(&["creator_user_ref"], ctx);
    s.int(&["number_of_subkeys"], i64::MIN, i64::MAX, ctx);
    s.ts(
        if v21 {
            &["modified_time"]
        } else {
            &["modified"]
        },
        ctx,
    );
    s.objects("values", 0, registry_value, ctx);
    if v21 {
        s.any_of(
            &[
                "key",
                "values",
                "modified",
                "creator_user_ref",
                "number_of_subkeys",
            ],
            ctx,
        );
    } else {
        s.required("key", ctx);
    }
}

/// One of `values`, the key's registry values, with a data type of the record's version.
fn registry_value(a: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    a.str(&["name", "data"], ctx);
    let types = if v21 { DATA_TYPES_21 } else { DATA_TYPES_20 };
    a.one_of("data_type", types, ctx);
    if v21 {
        a.any_of(&["name", "data", "data_type"], ctx);
    } else {
        a.required("name", ctx);
    }
}

/// The data types of a registry value in 2.1.
const DATA_TYPES_21: &[&str] = &[
    "REG_NONE",
    "REG_SZ",
    "REG_EXPAND_SZ",
    "REG_BINARY",
    "REG_DWORD",
    "REG_DWORD_BIG_ENDIAN",
    "REG_DWORD_LITTLE_ENDIAN",
    "REG_LINK",
    "REG_MULTI_SZ",
    "REG_RESOURCE_LIST",
    "REG_FULL_RESOURCE_DESCRIPTION",
    "REG_RESOURCE_REQUIREMENTS_LIST",
    "REG_QWORD",
    "REG_INVALID_TYPE",
];

/// The data types of a registry value in 2.0: REG_DWORD_LITTLE_ENDIAN is new in 2.1.
const DATA_TYPES_20: &[&str] = &[
    "REG_NONE",
    "REG_SZ",
    "REG_EXPAND_SZ",
    "REG_BINARY",
    "REG_DWORD",
    "REG_DWORD_BIG_ENDIAN",
    "REG_LINK",
    "REG_MULTI_SZ",
    "REG_RESOURCE_LIST",
    "REG_FULL_RESOURCE_DESCRIPTION",
    "REG_RESOURCE_REQUIREMENTS_LIST",
    "REG_QWORD",
    "REG_INVALID_TYPE",
];
