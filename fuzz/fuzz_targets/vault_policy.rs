//! Arbitrary text as a vault ACL policy: a policy or a one-line error, never a panic; a
//! policy that parses compiles and answers path checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_vault::acl::{parse_policy, Acl};
use seawall_vault::Operation;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_policy("fuzz", &text) {
        Ok(policy) => {
            let acl = Acl::compile([&policy]);
            for rule in &policy.rules {
                let _ = acl.allows(&rule.path, Operation::Read);
                let _ = acl.allows(&rule.path, Operation::List);
                let _ = acl.capabilities(&rule.path);
            }
            let _ = acl.allows("secret/data/app", Operation::Update);
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "multi-line error: {e}"),
    }
});
