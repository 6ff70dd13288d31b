//! A chat-completions body → the validated request and the body sent upstream.
//! The properties live in `switchyard_router::fuzz::chat_request`;
//! `cargo test` replays the seed corpus through them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_router::fuzz::chat_request(data));
