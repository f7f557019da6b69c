//! The valid path of validation allocates nothing: a typical record costs its parse and,
//! for a STIX pattern, whatever the pattern crate needs, and no more.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use stix::{Json, Options, Profile, SpecVersion};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.load(Ordering::Relaxed);
    f();
    ALLOCS.load(Ordering::Relaxed) - before
}

const PATTERN: &str = "[ipv4-addr:value = '198.51.100.7']";

/// An indicator from the benchmark corpus, with the usual optional properties.
fn indicator(pattern_type: &str) -> String {
    format!(
        r#"{{"type": "indicator", "spec_version": "2.1", "id": "indicator--dd986729-3a59-44c3-a672-5d578887060a", "created": "2020-08-06T23:36:24.173Z", "modified": "2020-08-28T01:59:30.173Z", "name": "ipv4 indicator 16f4b0", "pattern": "{PATTERN}", "pattern_type": "{pattern_type}", "valid_from": "2020-08-07T11:23:45.173Z", "valid_until": "2021-08-07T11:23:45.173Z", "description": "Entity appears in vendor article about Turla Sandstorm.", "indicator_types": ["malicious-activity"], "kill_chain_phases": [{{"kill_chain_name": "mitre-attack", "phase_name": "reconnaissance"}}], "labels": ["c2"], "lang": "en", "revoked": false, "created_by_ref": "identity--3c116549-8853-4206-bc4a-447ec49872c6", "confidence": 50, "external_references": [{{"source_name": "veris", "external_id": "0001AA7F-C601", "url": "https://example.com/report.json"}}], "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"], "granular_markings": [{{"marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "selectors": ["description", "labels.[0]"]}}]}}"#
    )
}

#[test]
fn a_valid_indicator_allocates_nothing_beyond_its_pattern() {
    for (opts, profile) in [
        (Options::default(), Profile::Compatible),
        (Options::strict(), Profile::Strict),
    ] {
        // A pattern type other than STIX: no pattern crate involved, so no allocation at all.
        let text = indicator("yara");
        let json = Json::parse(&text).unwrap();
        let mut valid = false;
        let n = allocations(|| valid = stix::validate(&json, opts, None).is_valid());
        assert!(valid);
        assert_eq!(n, 0, "{profile:?}, pattern_type yara");

        // A STIX pattern: exactly what the pattern crate allocates to check it.
        let text = indicator("stix");
        let json = Json::parse(&text).unwrap();
        let popts = stix_pattern::Options {
            profile,
            version: SpecVersion::V21,
        };
        let pattern = allocations(|| assert!(stix_pattern::validate(PATTERN, popts).is_ok()));
        let n = allocations(|| valid = stix::validate(&json, opts, None).is_valid());
        assert!(valid);
        assert_eq!(n, pattern, "{profile:?}, pattern_type stix");
    }
}
