//! The `fibstack` command line: thin wrappers over the library.

mod cli;

use clap::Parser;

/// Large volume buffers on transparent huge pages (fewer page faults, faster frees).
#[global_allocator]
static ALLOC: fibstack::alloc::HugePageAlloc = fibstack::alloc::HugePageAlloc;

fn main() {
    // Human-readable output piped into e.g. `head` must not end in a panic message: a closed
    // stdout ends the program quietly with the conventional SIGPIPE status.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                // help and version go to stdout with exit 0, as asked for
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
                _ => {
                    eprintln!("error: {}", cli::one_line_usage_error(&e));
                    std::process::exit(1);
                }
            }
        }
    };
    // Ctrl-C / kill: remove unfinished outputs before exiting
    if let Err(e) = fibstack::io::atomic::install_signal_cleanup() {
        eprintln!("note: cannot install the signal handler ({e}); an interrupted run may leave hidden .fibstack-tmp files");
    }
    if let Err(e) = cli::run(args) {
        // one line: the error chain joined
        let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        eprintln!("error: {}", msg.join(": "));
        std::process::exit(1);
    }
}
