//! Traffic Light Protocol marking definitions (STIX 2.1 section 7.2.1.4 and the TLP 2.0
//! extension definitions).

/// A TLP level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

/// The marking-definition ids of TLP 1.0 (STIX 2.1 section 7.2.1.4).
pub const TLP1_WHITE: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
pub const TLP1_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
pub const TLP1_AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
pub const TLP1_RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

/// The marking-definition ids of TLP 2.0 (OASIS extension definitions for TLP 2.0).
pub const TLP2_CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
pub const TLP2_GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
pub const TLP2_AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
pub const TLP2_AMBER_STRICT: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
pub const TLP2_RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";

impl Tlp {
    /// The level a marking-definition id stands for, if it is one of the TLP ids.
    pub fn from_marking_id(id: &str) -> Option<Tlp> {
        Some(match id {
            TLP1_WHITE | TLP2_CLEAR => Tlp::Clear,
            TLP1_GREEN | TLP2_GREEN => Tlp::Green,
            TLP1_AMBER | TLP2_AMBER => Tlp::Amber,
            TLP2_AMBER_STRICT => Tlp::AmberStrict,
            TLP1_RED | TLP2_RED => Tlp::Red,
            _ => return None,
        })
    }

    /// Parses a level as the CSV templates write it, in any case: `white`/`clear`, `green`,
    /// `amber`, `amber+strict`, `red`.
    pub fn parse_level(s: &str) -> Option<Tlp> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "white" | "clear" => Tlp::Clear,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" => Tlp::AmberStrict,
            "red" => Tlp::Red,
            _ => return None,
        })
    }

    /// The marking-definition id to put on an object marked at this level. TLP 1.0 ids are
    /// used where TLP 1.0 has the level, because more consumers know them; AMBER+STRICT exists
    /// only in TLP 2.0.
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => TLP1_WHITE,
            Tlp::Green => TLP1_GREEN,
            Tlp::Amber => TLP1_AMBER,
            Tlp::AmberStrict => TLP2_AMBER_STRICT,
            Tlp::Red => TLP1_RED,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}
