//! End-to-end test support for Switchyard: [`fakeapi`], an in-process fake Kubernetes API
//! server, and [`harness`], which runs the real operator and router binaries against it (or
//! against a real cluster) for the scenarios in `tests/scenario_*.rs`.

pub mod fakeapi;
pub mod harness;
