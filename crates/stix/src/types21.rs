//! Property tables of the STIX 2.1 domain and relationship objects and meta objects.
//!
//! Common properties (id, created, markings, …) are checked once in `validate.rs`; these tables
//! hold what is particular to each type. Open vocabularies are listed for reference and never
//! enforced (STIX says SHOULD); enumerations are enforced (STIX says MUST).

use crate::rules::*;
use crate::vocab;

static KILL_CHAIN_PHASE: Ty = Ty::Obj(&[r("kill_chain_name", &STR), r("phase_name", &STR)]);
pub(crate) static KILL_CHAIN_PHASES: Ty = Ty::List(&KILL_CHAIN_PHASE);
static OBSERVED_DATA_REF: Ty = Ty::Ref(&["observed-data"]);
pub(crate) static LIST_OBSERVED_DATA_REF: Ty = Ty::List(&OBSERVED_DATA_REF);
static SIGHTING_OF_REF: Ty = Ty::RefNot(&[
    "sighting",
    "relationship",
    "bundle",
    "marking-definition",
    "language-content",
]);
/// Relationships link objects, not other relationships, sightings or meta objects.
pub(crate) static RELATIONSHIP_END: Ty = Ty::RefNot(&[
    "relationship",
    "sighting",
    "bundle",
    "marking-definition",
    "language-content",
]);
pub(crate) static RELATIONSHIP_TYPE: Ty = Ty::Fmt(
    is_relationship_type,
    "Must be lowercase letters, digits and hyphens",
);
static SOFTWARE_REF: Ty = Ty::Ref(&["software"]);
static LIST_SOFTWARE_REF: Ty = Ty::List(&SOFTWARE_REF);
static SAMPLE_REF: Ty = Ty::Ref(&["artifact", "file", "network-traffic"]);
static LANGUAGE_CONTENT_OBJECT_REF: Ty = Ty::RefNot(&["bundle", "language-content"]);
/// observed-data object_refs name observables, relationships and sightings, not domain objects.
static OBSERVED_REF: Ty = Ty::RefNot(&[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware-analysis",
    "malware",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
]);

/// `^[a-z0-9\-]+$`
pub(crate) fn is_relationship_type(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}
static WHERE_SIGHTED: Ty = Ty::List(&WHERE_SIGHTED_REF);
static WHERE_SIGHTED_REF: Ty = Ty::Ref(&["identity", "location"]);
static SCO_REF_LIST: Ty = Ty::List(&OBSERVED_REF);
static LATITUDE: Ty = Ty::Float {
    min: -90.0,
    max: 90.0,
};
static LONGITUDE: Ty = Ty::Float {
    min: -180.0,
    max: 180.0,
};
static PRECISION: Ty = Ty::Float {
    min: 0.0,
    max: f64::MAX,
};
pub(crate) static NUMBER_OBSERVED: Ty = Ty::Int {
    min: 1,
    max: 999_999_999,
};
pub(crate) static SIGHTING_COUNT: Ty = Ty::Int {
    min: 0,
    max: 999_999_999,
};
static INDICATOR_TYPES: Ty = Ty::List(&INDICATOR_TYPE);
static INDICATOR_TYPE: Ty = Ty::Ov(vocab::INDICATOR_TYPE);
static PATTERN_TYPE: Ty = Ty::Ov(vocab::PATTERN_TYPE);
static IDENTITY_CLASS: Ty = Ty::Ov(vocab::IDENTITY_CLASS);
static OPINION: Ty = Ty::Enum(vocab::OPINION);
static GROUPING_CONTEXT: Ty = Ty::Ov(vocab::GROUPING_CONTEXT);
static MALWARE_RESULT: Ty = Ty::Ov(vocab::MALWARE_RESULT);
static EXTENSION_TYPES: Ty = Ty::List(&EXTENSION_TYPE);
static EXTENSION_TYPE: Ty = Ty::Enum(vocab::EXTENSION_TYPE);

pub(crate) static ATTACK_PATTERN: TypeDef = TypeDef {
    name: "attack-pattern",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        p("aliases", &LIST_STR),
        p("kill_chain_phases", &KILL_CHAIN_PHASES),
    ]),
    extra: None,
};

pub(crate) static CAMPAIGN: TypeDef = TypeDef {
    name: "campaign",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        p("aliases", &LIST_STR),
        p("first_seen", &TS),
        p("last_seen", &TS),
        p("objective", &STR),
    ]),
    extra: Some(crate::extra::first_last_seen),
};

pub(crate) static COURSE_OF_ACTION: TypeDef = TypeDef {
    name: "course-of-action",
    props: &table(&[r("name", &STR), p("description", &STR), p("action", &ANY)]),
    extra: None,
};

pub(crate) static GROUPING: TypeDef = TypeDef {
    name: "grouping",
    props: &table(&[
        p("name", &STR),
        p("description", &STR),
        r("context", &GROUPING_CONTEXT),
        r("object_refs", &LIST_ANY_REF),
    ]),
    extra: None,
};

pub(crate) static IDENTITY: TypeDef = TypeDef {
    name: "identity",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        p("roles", &LIST_STR),
        p("identity_class", &IDENTITY_CLASS),
        p("sectors", &LIST_STR),
        p("contact_information", &STR),
    ]),
    extra: None,
};

pub(crate) static INCIDENT: TypeDef = TypeDef {
    name: "incident",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        p("kill_chain_phases", &KILL_CHAIN_PHASES),
    ]),
    extra: None,
};

pub(crate) static INDICATOR: TypeDef = TypeDef {
    name: "indicator",
    props: &table(&[
        p("name", &STR),
        p("description", &STR),
        p("indicator_types", &INDICATOR_TYPES),
        r("pattern", &STR),
        r("pattern_type", &PATTERN_TYPE),
        p("pattern_version", &STR),
        r("valid_from", &TS),
        p("valid_until", &TS),
        p("kill_chain_phases", &KILL_CHAIN_PHASES),
    ]),
    extra: Some(crate::extra::indicator),
};

pub(crate) static INFRASTRUCTURE: TypeDef = TypeDef {
    name: "infrastructure",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        p("infrastructure_types", &LIST_STR),
        p("aliases", &LIST_STR),
        p("kill_chain_phases", &KILL_CHAIN_PHASES),
        p("first_seen", &TS),
        p("last_seen", &TS),
    ]),
    extra: Some(crate::extra::first_last_seen),
};

pub(crate) static INTRUSION_SET: TypeDef = TypeDef {
    name: "intrusion-set",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        p("aliases", &LIST_STR),
        p("first_seen", &TS),
        p("last_seen", &TS),
        p("goals", &LIST_STR),
        p("resource_level", &STR),
        p("primary_motivation", &STR),
        p("secondary_motivations", &LIST_STR),
    ]),
    extra: Some(crate::extra::first_last_seen),
};

pub(crate) static LOCATION: TypeDef = TypeDef {
    name: "location",
    props: &table(&[
        p("name", &STR),
        p("description", &STR),
        p("latitude", &LATITUDE),
        p("longitude", &LONGITUDE),
        p("precision", &PRECISION),
        p("region", &STR),
        p("country", &STR),
        p("administrative_area", &STR),
        p("city", &STR),
        p("street_address", &STR),
        p("postal_code", &STR),
    ]),
    extra: Some(crate::extra::location),
};

pub(crate) static MALWARE: TypeDef = TypeDef {
    name: "malware",
    props: &table(&[
        p("name", &STR),
        p("description", &STR),
        p("malware_types", &LIST_STR),
        r("is_family", &BOOL),
        p("aliases", &LIST_STR),
        p("kill_chain_phases", &KILL_CHAIN_PHASES),
        p("first_seen", &TS),
        p("last_seen", &TS),
        p("operating_system_refs", &LIST_SOFTWARE_REF),
        p("architecture_execution_envs", &LIST_STR),
        p("implementation_languages", &LIST_STR),
        p("capabilities", &LIST_STR),
        p("sample_refs", &LIST_STR),
    ]),
    extra: Some(crate::extra::malware),
};

pub(crate) static MALWARE_ANALYSIS: TypeDef = TypeDef {
    name: "malware-analysis",
    props: &table(&[
        r("product", &STR),
        p("version", &STR),
        p("host_vm_ref", &SOFTWARE_REF),
        p("operating_system_ref", &SOFTWARE_REF),
        p("installed_software_refs", &LIST_SOFTWARE_REF),
        p("configuration_version", &STR),
        p("modules", &LIST_STR),
        p("analysis_engine_version", &STR),
        p("analysis_definition_version", &STR),
        p("submitted", &TS),
        p("analysis_started", &TS),
        p("analysis_ended", &TS),
        p("result_name", &STR),
        p("result", &MALWARE_RESULT),
        p("analysis_sco_refs", &LIST_ANY_REF),
        p("sample_ref", &SAMPLE_REF),
    ]),
    extra: Some(crate::extra::malware_analysis),
};

pub(crate) static NOTE: TypeDef = TypeDef {
    name: "note",
    props: &table(&[
        p("abstract", &STR),
        r("content", &STR),
        p("authors", &LIST_STR),
        r("object_refs", &LIST_ANY_REF),
    ]),
    extra: None,
};

pub(crate) static OBSERVED_DATA: TypeDef = TypeDef {
    name: "observed-data",
    props: &table(&[
        r("first_observed", &TS),
        r("last_observed", &TS),
        r("number_observed", &NUMBER_OBSERVED),
        p("objects", &DICT),
        p("object_refs", &SCO_REF_LIST),
    ]),
    extra: Some(crate::extra::observed_data),
};

pub(crate) static OPINION_DEF: TypeDef = TypeDef {
    name: "opinion",
    props: &table(&[
        p("explanation", &STR),
        p("authors", &LIST_STR),
        r("opinion", &OPINION),
        r("object_refs", &LIST_ANY_REF),
    ]),
    extra: None,
};

pub(crate) static REPORT: TypeDef = TypeDef {
    name: "report",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        p("report_types", &LIST_STR),
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
        p("threat_actor_types", &LIST_STR),
        p("aliases", &LIST_STR),
        p("first_seen", &TS),
        p("last_seen", &TS),
        p("roles", &LIST_STR),
        p("goals", &LIST_STR),
        p("sophistication", &STR),
        p("resource_level", &STR),
        p("primary_motivation", &STR),
        p("secondary_motivations", &LIST_STR),
        p("personal_motivations", &LIST_STR),
    ]),
    extra: Some(crate::extra::first_last_seen),
};

pub(crate) static TOOL: TypeDef = TypeDef {
    name: "tool",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        p("tool_types", &LIST_STR),
        p("aliases", &LIST_STR),
        p("kill_chain_phases", &KILL_CHAIN_PHASES),
        p("tool_version", &STR),
    ]),
    extra: None,
};

pub(crate) static VULNERABILITY: TypeDef = TypeDef {
    name: "vulnerability",
    props: &table(&[r("name", &STR), p("description", &STR)]),
    extra: None,
};

pub(crate) static RELATIONSHIP: TypeDef = TypeDef {
    name: "relationship",
    props: &table(&[
        r("relationship_type", &RELATIONSHIP_TYPE),
        p("description", &STR),
        r("source_ref", &RELATIONSHIP_END),
        r("target_ref", &RELATIONSHIP_END),
        p("start_time", &TS),
        p("stop_time", &TS),
    ]),
    extra: Some(crate::extra::relationship),
};

pub(crate) static SIGHTING: TypeDef = TypeDef {
    name: "sighting",
    props: &table(&[
        p("description", &STR),
        p("first_seen", &TS),
        p("last_seen", &TS),
        p("count", &SIGHTING_COUNT),
        r("sighting_of_ref", &SIGHTING_OF_REF),
        p("observed_data_refs", &LIST_OBSERVED_DATA_REF),
        p("where_sighted_refs", &WHERE_SIGHTED),
        p("summary", &BOOL),
    ]),
    extra: Some(crate::extra::sighting),
};

pub(crate) static MARKING_DEFINITION: TypeDef = TypeDef {
    name: "marking-definition",
    props: &table(&[
        p("name", &STR),
        p("definition_type", &STR),
        p("definition", &DICT),
    ]),
    extra: Some(crate::extra::marking_definition),
};

pub(crate) static LANGUAGE_CONTENT: TypeDef = TypeDef {
    name: "language-content",
    props: &table(&[
        r("object_ref", &LANGUAGE_CONTENT_OBJECT_REF),
        p("object_modified", &TS),
        r("contents", &DICT),
    ]),
    extra: None,
};

pub(crate) static EXTENSION_DEFINITION: TypeDef = TypeDef {
    name: "extension-definition",
    props: &table(&[
        r("name", &STR),
        p("description", &STR),
        r("schema", &STR),
        r("version", &STR),
        r("extension_types", &EXTENSION_TYPES),
        p("extension_properties", &LIST_STR),
    ]),
    extra: None,
};

/// The 2.1 domain, relationship and meta object types.
pub(crate) static TYPES: &[&TypeDef] = &[
    &ATTACK_PATTERN,
    &CAMPAIGN,
    &COURSE_OF_ACTION,
    &GROUPING,
    &IDENTITY,
    &INCIDENT,
    &INDICATOR,
    &INFRASTRUCTURE,
    &INTRUSION_SET,
    &LOCATION,
    &MALWARE,
    &MALWARE_ANALYSIS,
    &NOTE,
    &OBSERVED_DATA,
    &OPINION_DEF,
    &REPORT,
    &THREAT_ACTOR,
    &TOOL,
    &VULNERABILITY,
    &RELATIONSHIP,
    &SIGHTING,
    &MARKING_DEFINITION,
    &LANGUAGE_CONTENT,
    &EXTENSION_DEFINITION,
];
