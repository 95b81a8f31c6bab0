//! Two processes talking through a named SPSC ring: this program creates the
//! ring and produces, and starts a copy of itself that consumes.
//!
//! `cargo run --example two_processes`

use shmlane::spsc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!(
        "/shmlane-example-{}",
        std::env::args()
            .nth(2)
            .unwrap_or_else(|| std::process::id().to_string())
    );
    if std::env::args().nth(1).as_deref() == Some("consumer") {
        // Process B: open the ring by name, read until the producer closes.
        let mut rx = spsc::Channel::<u64>::open(&name)?.consumer()?;
        let mut sum = 0;
        loop {
            match rx.pop() {
                Ok(v) => sum += v,
                Err(shmlane::RecvError::Disconnected) => break,
                Err(e) => return Err(e.into()),
            }
        }
        println!("consumer {}: sum {sum}", std::process::id());
    } else {
        // Process A: create the ring, start B, send, close.
        let ch = spsc::Channel::<u64>::create(&name, 1024)?;
        let mut tx = ch.producer()?;
        let mut b = std::process::Command::new(std::env::current_exe()?)
            .arg("consumer")
            .arg(std::process::id().to_string())
            .spawn()?;
        for i in 0..1_000_000u64 {
            tx.push(i)?;
        }
        tx.push_slice(&[1, 2, 3])?;
        drop(tx);
        b.wait()?;
        println!(
            "producer: sent 1000003 messages, expected sum {}",
            999_999u64 * 1_000_000 / 2 + 6
        );
        shmlane::segment::unlink(&name)?;
    }
    Ok(())
}
