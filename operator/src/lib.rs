//! The Switchyard operator library (work in progress: see issue [5/9]).
