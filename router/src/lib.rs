//! The Switchyard router library (work in progress: see issue [2/9]).
