//! `uap demo`: a SQLite host database whose users carry passwords in many
//! legacy formats, a generated `uap.toml`, and the server — no Redis, no
//! PostgreSQL, no network.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use uap_domain::password;

use crate::output::Out;
use crate::{Failure, serve};

/// One demo user. The legacy hashes were produced once by the reference
/// implementations (PHP 8 `password_hash`, Django 5.2 `make_password`,
/// Werkzeug 3.1 `generate_password_hash`, passlib 1.7.4, Python `bcrypt`);
/// alice's argon2id hash is made at first start.
struct DemoUser {
    username: &'static str,
    password: &'static str,
    format: &'static str,
    hash: &'static str,
    role: &'static str,
    active: bool,
}

const USERS: &[DemoUser] = &[
    DemoUser {
        username: "alice",
        password: "alice-password",
        format: "argon2id (PHC, UAP's preferred)",
        hash: "",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "bob",
        password: "bob-password",
        format: "bcrypt $2y$ cost 10 (Laravel/PHP)",
        hash: r"$2y$10$c0Nzn4Z/oAP9cGxpfyun/eqglr3L97JbjWHo0O1UP2auSycynzVZa",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "carol",
        password: "carol-password",
        format: "Django pbkdf2_sha256",
        hash: r"pbkdf2_sha256$1000000$rHzPCfhMWJ7Cg9VsrzURMF$vWLzZODFKlbYhgCr+NonkG51w9JkuFy/kZiZZkiF4+M=",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "dave",
        password: "dave-password",
        format: "Werkzeug scrypt",
        hash: r"scrypt:32768:8:1$2ayhN2fUEkjuYKbl$bccccdc809ee4e4daf814bb4e5173f25a16d5910e4f8c153d9951e6e19b10979200a500ced61cf04a8b7d81f10bf9322d990ce1d2c1194962f8678057ab72b46",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "erin",
        password: "erin-password",
        format: "WordPress phpass $P$",
        hash: r"$P$Bi8aTB8dy7uAj8NeyZCCdvVtx2H2V1/",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "frank",
        password: "frank-password",
        format: "md5_crypt $1$",
        hash: r"$1$s5H6oQWK$4VRfLlKotz8vXH0RWoVvT/",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "grace",
        password: "grace-password",
        format: "sha512_crypt $6$",
        hash: r"$6$2M5TgiycxqL8FR1S$gHZM.WKEqrZ1.ZfdGBcVl0HwY71vqY0C60hl0hItYh4Eq2DAUWt2/nVMYVEMi8Q.avuWXVMNjq7exiG.ebJz80",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "heidi",
        password: "heidi-password",
        format: "passlib $pbkdf2-sha256$",
        hash: r"$pbkdf2-sha256$29000$/f/fO4fw/h/DmDNmTCllDA$VPK3F0RSQDjFfn5/Y3ZqpGo6VtCBPdCf4afV96hxWw0",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "ivan",
        password: "ivan-password",
        format: "LDAP {SSHA}",
        hash: r"{SSHA}LYqmVeOUwwjRFPOdpcSRb3c+QYJkbA3h",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "admin",
        password: "admin-password",
        format: "bcrypt $2b$ cost 10 (Python/Node)",
        hash: r"$2b$10$b3.Q6as09esrranMDK.ZJeoC5Lj6UZ6dyjrHPu4J1FBGh/DTh4Hf2",
        role: "admin",
        active: true,
    },
    DemoUser {
        username: "walter",
        password: "walter-password",
        format: "WordPress 6.8 $wp$2y$",
        hash: r"$wp$2y$10$ZQsqCT2rWd6EruhG4Q95IuYumJVIwSXsf8PvG17S4pFeY/7FrWBry",
        role: "user",
        active: true,
    },
    DemoUser {
        username: "mallory",
        password: "mallory-password",
        format: "bcrypt $2y$ (inactive account)",
        hash: r"$2y$10$noMgyBUn4.ht3SjOnZkPNeFAEsm9WEKkAqbuw5EH88hVmnapnbVb.",
        role: "user",
        active: false,
    },
];

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

async fn create_host_db(path: &Path) -> Result<(), Failure> {
    let db = Database::connect(sqlite_url(path))
        .await
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", path.display())))?;
    let fail = |e: sea_orm::DbErr| Failure::runtime(format!("cannot fill {}: {e}", path.display()));
    db.execute_unprepared(
        "CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL UNIQUE,
            password TEXT,
            role TEXT NOT NULL DEFAULT 'user',
            is_active INTEGER NOT NULL DEFAULT 1,
            hash_format TEXT,
            remember_token TEXT,
            created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        )",
    )
    .await
    .map_err(fail)?;
    let policy = uap_domain::password::PasswordPolicy::default();
    for user in USERS {
        let hash = if user.hash.is_empty() {
            password::hash(&policy, user.password).map_err(|e| Failure::runtime(e.to_string()))?
        } else {
            user.hash.to_owned()
        };
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO users (username, email, password, role, is_active, hash_format, remember_token) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                user.username.into(),
                format!("{}@example.com", user.username).into(),
                hash.into(),
                user.role.into(),
                i32::from(user.active).into(),
                user.format.into(),
                "secret-remember-token".into(),
            ],
        ))
        .await
        .map_err(fail)?;
    }
    Ok(())
}

fn random_secret() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn write_config(path: &Path, dir: &Path, port: u16) -> Result<(), Failure> {
    let text = format!(
        "# Generated by `uap demo`. Every key: docs/configuration.md\n\
         service_name = \"UAP demo\"\n\
         port = {port}\n\
         log_format = \"pretty\"\n\
         host_db_url = \"{host}\"\n\
         host_user_table = \"users\"\n\
         database_url = \"{internal}\"\n\
         jwt_secret_key = \"{secret}\"\n\
         hash_upgrade = \"report\"\n\
         \n\
         # Brute-force protection (on by default; listed here to show it).\n\
         [[middleware_stack]]\n\
         name = \"rate_limit\"\n\
         enabled = true\n\
         max_attempts = 5\n\
         \n\
         # Uncomment for TOTP MFA (needs encryption_key above the first [[...]]):\n\
         # encryption_key = \"<64 hex characters>\"\n\
         # [[middleware_stack]]\n\
         # name = \"mfa\"\n\
         # enabled = true\n\
         # required_roles = [\"admin\"]\n",
        host = sqlite_url(&dir.join("host.db")),
        internal = sqlite_url(&dir.join("uap.db")),
        secret = random_secret(),
    );
    let fail = |e: std::io::Error| Failure::runtime(format!("cannot write {}: {e}", path.display()));
    let mut file = private_file(path).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

/// Creates `path` readable and writable by its owner only (0600): the demo's
/// config holds the JWT secret and its databases hold password hashes and
/// sessions.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Creates the demo directory owner-only (0700) when it does not exist yet.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// An empty SQLite database file created 0600 before SQLite opens it (SQLite
/// gives its `-wal`/`-shm` files the database file's permissions).
fn private_db(path: &Path) -> Result<(), Failure> {
    if path.exists() {
        return Ok(());
    }
    private_file(path).map(drop).map_err(|e| Failure::runtime(format!("cannot create {}: {e}", path.display())))
}

/// Prepares the demo directory (once) and serves it.
pub(crate) async fn run(port: u16, dir: &Path) -> Result<(), Failure> {
    private_dir(dir).map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
    let dir: PathBuf =
        dir.canonicalize().map_err(|e| Failure::runtime(format!("cannot resolve {}: {e}", dir.display())))?;
    let host_db = dir.join("host.db");
    if !host_db.exists() {
        private_db(&host_db)?;
        create_host_db(&host_db).await?;
    }
    private_db(&dir.join("uap.db"))?;
    let config = dir.join("uap.toml");
    if !config.exists() {
        write_config(&config, &dir, port)?;
    }
    let mut loaded = uap_server::config::load(Some(&config))?;
    loaded.listen.port = port;
    uap_server::telemetry::init(loaded.telemetry.log_format, loaded.telemetry.debug);

    Out::line(&format!("UAP demo — host database {} , config {}", host_db.display(), config.display()));
    Out::line("");
    Out::line(&format!("{:<9} {:<17} {}", "username", "password", "stored hash format"));
    for user in USERS {
        Out::line(&format!("{:<9} {:<17} {}", user.username, user.password, user.format));
    }
    Out::line("");
    Out::line("Log in:");
    Out::line(&format!(
        "curl -s -X POST http://127.0.0.1:{port}/api/v1/auth/authenticate -H 'Content-Type: application/json' -d '{{\"username\":\"bob\",\"password\":\"bob-password\"}}'"
    ));
    Out::line(
        "Then: curl -s http://127.0.0.1:{port}/api/v1/auth/validate -H \"Authorization: Bearer <token>\""
            .replace("{port}", &port.to_string())
            .as_str(),
    );
    Out::line(&format!("API docs: http://127.0.0.1:{port}/docs/"));
    Out::line("");
    serve(loaded).await
}
