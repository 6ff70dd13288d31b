//! CR YAML → resolved RouterConfig, and its YAML round trip.
//! The properties live in `switchyard_router::fuzz::config_yaml`;
//! `cargo test` replays the seed corpus through them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_router::fuzz::config_yaml(data));
