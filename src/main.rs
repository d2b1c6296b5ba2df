//! The `slipway` binary: everything lives in the library; this only runs it.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A large stack: evaluation recursion is bounded, but hostile nesting should get a
    // diagnostic from those bounds, never a stack overflow first.
    let code = std::thread::Builder::new()
        .name("slipway".into())
        .stack_size(256 << 20)
        .spawn(move || slipway::cli::main_with_args(args))
        .map(|h| h.join().unwrap_or(101))
        .unwrap_or(101);
    std::process::exit(code);
}
