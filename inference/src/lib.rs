//! ONNX inference engine of the Switchyard router (work in progress: see issue [3/9]).
