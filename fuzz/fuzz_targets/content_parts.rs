//! Image content parts: data: URLs, the header-only pixel check, decoding with limits.
//! The properties live in `switchyard_router::fuzz::content_parts`;
//! `cargo test` replays the seed corpus through them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_router::fuzz::content_parts(data));
