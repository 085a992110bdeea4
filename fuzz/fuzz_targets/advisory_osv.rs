//! Fuzz the OSV record parsers (JSON and YAML) and range evaluation: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_supply::advisory::osv::CompiledAffected;
use seawall_supply::advisory::OsvRecord;

fuzz_target!(|data: &[u8]| {
    for record in [OsvRecord::from_json(data), OsvRecord::from_yaml(data)]
        .into_iter()
        .flatten()
    {
        let _ = record.cvss();
        let _ = record.severity_rating();
        for (ecosystem, _, affected) in record.packages() {
            let (compiled, _) = CompiledAffected::compile(ecosystem, affected);
            for v in [
                "0",
                "1.0.0",
                "0.0.0-0",
                "v1.2.3",
                "1.0.post1",
                "4.1.108.Final",
            ] {
                let _ = compiled.affects(v);
            }
        }
    }
});
