//! The relay's `usage` scan of upstream bodies, SSE or JSON, however they are chunked.
//! The properties live in `switchyard_router::fuzz::sse_usage`;
//! `cargo test` replays the seed corpus through them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_router::fuzz::sse_usage(data));
