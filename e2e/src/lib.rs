//! End-to-end test support for Switchyard: [`fakeapi`], an in-process fake Kubernetes API
//! server the hermetic end-to-end suite runs the operator and router against.

pub mod fakeapi;
