//! `pixel-hnn`: parses the command line and hands it to the library.
use clap::Parser;

fn main() {
    let cli = pixel_hnn::cli::Cli::parse();
    if let Err(e) = pixel_hnn::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
