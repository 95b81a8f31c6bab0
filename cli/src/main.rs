//! The `shmlane` command.
fn main() {
    eprintln!("shmlane: no command yet");
    std::process::exit(2);
}
