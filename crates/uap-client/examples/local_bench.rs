//! How many token checks per second one core does: local mode (in-process,
//! after the first sight) next to remote `GET /validate`, from the same client.
//!
//! Needs a running UAP with an asymmetric `jwt_algorithm` and `sdk_api_key`:
//!
//! ```text
//! UAP_URL=http://127.0.0.1:8000 UAP_SDK_KEY=... UAP_USERNAME=bob UAP_PASSWORD=... \
//!   cargo run --release -p uap-client --features local --example local_bench
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret as _;
use uap_client::local::LocalConfig;
use uap_client::{AuthenticateRequest, UapClient, Validator};

/// Validations per second over `window`, one at a time.
async fn rate(validator: &Validator, token: &str, window: Duration) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut checks = 0_u64;
    while start.elapsed() < window {
        validator.validate(token).await?;
        checks += 1;
    }
    #[expect(clippy::cast_precision_loss, reason = "a rate to print")]
    Ok(checks as f64 / start.elapsed().as_secs_f64())
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("set {name}"))
}

// One core: a current-thread runtime.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let client = UapClient::new(env("UAP_URL")?)?;
    let request = AuthenticateRequest::username(env("UAP_USERNAME")?, env("UAP_PASSWORD")?);
    let session = client.authenticate(&request).await?;
    let token = session.token.expose_secret().to_owned();
    let window = Duration::from_secs(3);

    let remote = Validator::remote(client.clone());
    remote.validate(&token).await?;
    let remote_rate = rate(&remote, &token, window).await?;

    let local = Validator::local(client, LocalConfig::new(env("UAP_SDK_KEY")?))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !local.is_feed_live() {
        if Instant::now() > deadline {
            bail!("the revocation feed did not become live (is sdk_api_key set and jwt_algorithm asymmetric?)");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    local.validate(&token).await?; // the first sight asks UAP once
    let local_rate = rate(&local, &token, window).await?;

    let mut out = std::io::stdout().lock();
    std::io::Write::write_fmt(
        &mut out,
        format_args!(
            "one core, one check at a time, {} s each:\n  local (in-process)  {local_rate:>10.0} checks/s\n  remote /validate    {remote_rate:>10.0} checks/s\n",
            window.as_secs()
        ),
    )?;
    Ok(())
}
