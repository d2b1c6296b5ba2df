//! Expression evaluation: the built-in function library and type conversion for variable constraints.

pub mod convert;
pub mod functions;
