//! Reading device identity from arbitrary DER must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = seawall_policy::device::device_from_certificate(data);
});
