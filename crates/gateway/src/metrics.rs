//! Prometheus metrics of the gateway.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    outcome: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// The gateway's counters and histograms. Cloning shares them.
#[derive(Clone, Debug)]
pub struct GatewayMetrics {
    requests: Family<RequestLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    upstream_latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            decisions: Family::default(),
            upstream_latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl GatewayMetrics {
    /// Creates the metrics and registers them under `seawall_gateway_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let sub = registry.sub_registry_with_prefix("seawall_gateway");
        sub.register(
            "requests",
            "Requests answered, by route (`-` when none matched) and status",
            m.requests.clone(),
        );
        sub.register(
            "decisions",
            "Authorization decisions, by outcome and reason",
            m.decisions.clone(),
        );
        sub.register(
            "upstream_latency_seconds",
            "Time to the upstream's response headers, by route",
            m.upstream_latency.clone(),
        );
        m
    }

    pub(crate) fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status,
            })
            .inc();
    }

    pub(crate) fn decision(&self, outcome: &str, reason: &str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                outcome: outcome.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub(crate) fn upstream_latency(&self, route: &str, secs: f64) {
        self.upstream_latency
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .observe(secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_appear_in_the_exposition() {
        let mut reg = Registry::default();
        let m = GatewayMetrics::register(&mut reg);
        m.request("demo", 200);
        m.decision("deny", "no_permit");
        m.upstream_latency("demo", 0.002);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        assert!(out.contains("seawall_gateway_requests_total{route=\"demo\",status=\"200\"} 1"));
        assert!(
            out.contains("outcome=\"deny\",reason=\"no_permit\""),
            "{out}"
        );
        assert!(out.contains("seawall_gateway_upstream_latency_seconds_bucket"));
    }
}
