//! Property tables of STIX 2.0 objects where they differ from 2.1.
//!
//! STIX 2.0 has no `spec_version` on objects, requires `labels` on several types (where 2.1
//! has `indicator_types`, `malware_types`, …), has no `pattern_type` and no `is_family`, and
//! `identity_class` is required. Types that 2.0 does not have (grouping, incident, location,
//! …) are custom objects when read as 2.0.

use crate::rules::*;
use crate::types21 as t21;

static LABELS: Ty = Ty::List(&STR);

pub(crate) static INDICATOR: TypeDef = TypeDef {
    name: "indicator",
    props: &table(&[
        p("name", &STR),
        p("description", &STR),
        r("labels", &LABELS),
        r("pattern", &STR),
        r("valid_from", &TS),
        p("valid_until", &TS),
        p("kill_chain_phases", &t21::KILL_CHAIN_PHASES),
    ]),
    extra: Some(crate::extra::indicator),
};

pub(crate) static MALWARE: TypeDef = TypeDef {
    name: "malware",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        r("labels", &LABELS),
        p("kill_chain_phases", &t21::KILL_CHAIN_PHASES),
    ]),
    extra: None,
};

pub(crate) static IDENTITY: TypeDef = TypeDef {
    name: "identity",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        r("identity_class", &STR),
        p("sectors", &LIST_STR),
        p("contact_information", &STR),
    ]),
    extra: None,
};

pub(crate) static REPORT: TypeDef = TypeDef {
    name: "report",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        r("labels", &LABELS),
        r("published", &TS),
        r("object_refs", &LIST_ANY_REF),
    ]),
    extra: None,
};

pub(crate) static THREAT_ACTOR: TypeDef = TypeDef {
    name: "threat-actor",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        r("labels", &LABELS),
        p("aliases", &LIST_STR),
        p("roles", &LIST_STR),
        p("goals", &LIST_STR),
        p("sophistication", &STR),
        p("resource_level", &STR),
        p("primary_motivation", &STR),
        p("secondary_motivations", &LIST_STR),
        p("personal_motivations", &LIST_STR),
    ]),
    extra: None,
};

pub(crate) static TOOL: TypeDef = TypeDef {
    name: "tool",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        r("labels", &LABELS),
        p("kill_chain_phases", &t21::KILL_CHAIN_PHASES),
        p("tool_version", &STR),
    ]),
    extra: None,
};

pub(crate) static OBSERVED_DATA: TypeDef = TypeDef {
    name: "observed-data",
    props: &table(&[
        r("first_observed", &TS),
        r("last_observed", &TS),
        r("number_observed", &t21::NUMBER_OBSERVED),
        r("objects", &DICT),
    ]),
    extra: Some(crate::extra::observed_data),
};

pub(crate) static MARKING_DEFINITION: TypeDef = TypeDef {
    name: "marking-definition",
    props: &table(&[r("definition_type", &STR), r("definition", &DICT)]),
    extra: Some(crate::extra::marking_definition),
};

static WHERE_SIGHTED_REF: Ty = Ty::Ref(&["identity"]);
static SIGHTING_OF_REF: Ty =
    Ty::RefNot(&["sighting", "relationship", "bundle", "marking-definition"]);
static RELATIONSHIP_END: Ty =
    Ty::RefNot(&["relationship", "sighting", "bundle", "marking-definition"]);

pub(crate) static RELATIONSHIP: TypeDef = TypeDef {
    name: "relationship",
    props: &table(&[
        r("relationship_type", &t21::RELATIONSHIP_TYPE),
        p("description", &STR),
        r("source_ref", &RELATIONSHIP_END),
        r("target_ref", &RELATIONSHIP_END),
    ]),
    extra: None,
};

pub(crate) static SIGHTING: TypeDef = TypeDef {
    name: "sighting",
    props: &table(&[
        p("description", &STR),
        p("first_seen", &TS),
        p("last_seen", &TS),
        p("count", &t21::SIGHTING_COUNT),
        r("sighting_of_ref", &SIGHTING_OF_REF),
        p("observed_data_refs", &t21::LIST_OBSERVED_DATA_REF),
        p("where_sighted_refs", &Ty::List(&WHERE_SIGHTED_REF)),
        p("summary", &BOOL),
    ]),
    extra: Some(crate::extra::sighting),
};

/// The 2.0 object types; those equal to their 2.1 form come from `types21`.
pub(crate) static TYPES: &[&TypeDef] = &[
    &t21::ATTACK_PATTERN,
    &t21::CAMPAIGN,
    &t21::COURSE_OF_ACTION,
    &IDENTITY,
    &INDICATOR,
    &t21::INTRUSION_SET,
    &MALWARE,
    &OBSERVED_DATA,
    &REPORT,
    &THREAT_ACTOR,
    &TOOL,
    &t21::VULNERABILITY,
    &RELATIONSHIP,
    &SIGHTING,
    &MARKING_DEFINITION,
];
