//! Prometheus metrics, served at `GET /metrics` in the text exposition format.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/workspaces/{id}/…`) or `unmatched`, never the raw path: ids
    /// would make one series per object. Every label comes from a fixed set.
    pub route: String,
    /// `GET`, `POST`, … or `other`.
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ImportLabels {
    pub status: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RequestLabels, Histogram>,
    pub objects_accepted: Counter<u64, AtomicU64>,
    pub objects_rejected: Counter<u64, AtomicU64>,
    pub throttled: Counter<u64, AtomicU64>,
    pub import_seconds: Family<ImportLabels, Histogram>,
    /// File imports running, and waiting to run (set when the metrics are read).
    pub imports_running: Gauge,
    pub imports_waiting: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tiport");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let request_seconds = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            request_seconds.clone(),
        );
        let objects_accepted = Counter::default();
        registry.register(
            "upload_objects_accepted",
            "Objects of upload requests stored (or already stored unchanged)",
            objects_accepted.clone(),
        );
        let objects_rejected = Counter::default();
        registry.register(
            "upload_objects_rejected",
            "Objects of upload requests refused with a per-record error",
            objects_rejected.clone(),
        );
        let throttled = Counter::default();
        registry.register(
            "throttled_requests",
            "Requests answered 429 by throttling",
            throttled.clone(),
        );
        let import_seconds = Family::<ImportLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0])
        });
        registry.register(
            "import_duration_seconds",
            "Duration of file imports over HTTP, by final status",
            import_seconds.clone(),
        );
        let imports_running = Gauge::default();
        registry.register(
            "imports_running",
            "File imports running now",
            imports_running.clone(),
        );
        let imports_waiting = Gauge::default();
        registry.register(
            "imports_waiting",
            "File imports waiting to run: queued, or being posted into a place of the queue",
            imports_waiting.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            objects_accepted,
            objects_rejected,
            throttled,
            import_seconds,
            imports_running,
            imports_waiting,
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
