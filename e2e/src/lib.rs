//! End-to-end test support for Switchyard (work in progress: see issue [7/9]).
