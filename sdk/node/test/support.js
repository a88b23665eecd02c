// Test fixture: a real `uap serve` (the binary named by UAP_BIN) over a SQLite
// host database in a temporary directory, with users whose bcrypt hashes
// `uap hash` made. The host table is written by the sqlite3 CLI.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** username -> [password, role] */
export const USERS = { alice: ['alice-password', 'admin'], bob: ['bob-password', 'user'] };

function uapBin() {
  const bin = process.env.UAP_BIN;
  if (!bin) throw new Error('set UAP_BIN to the uap binary (cargo build -p uap-cli; $CARGO_TARGET_DIR/debug/uap)');
  return bin;
}

/** This process's environment without UAP_* settings, which would override uap.toml. */
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UAP_')));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sql = (s) => `'${String(s).replaceAll("'", "''")}'`;

export class UapServer {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.child = null;
  }

  /** Writes uap.toml (plus `extra(dir)`'s lines) and host.db in a fresh temporary directory. */
  static async create({ extra = () => [] } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'uap-sdk-node-'));
    const port = await freePort();
    const config = join(dir, 'uap.toml');
    writeFileSync(
      config,
      [
        'bind = "127.0.0.1"',
        `port = ${port}`,
        `host_db_url = "sqlite://${join(dir, 'host.db')}"`,
        'host_user_table = "users"',
        `database_url = "sqlite://${join(dir, 'uap.db')}?mode=rwc"`,
        `jwt_secret_key = "${randomBytes(32).toString('hex')}"`,
        'bcrypt_cost = 4',
        'refusal_floor_max_ms = 0',
        'log_format = "pretty"',
        ...extra(dir),
        '',
      ].join('\n'),
    );
    const rows = Object.entries(USERS).map(([name, [password, role]]) => {
      const hash = execFileSync(uapBin(), ['hash', '--algorithm', 'bcrypt', '--config', config], {
        input: password,
        env: cleanEnv(),
      })
        .toString()
        .trim();
      if (!hash.startsWith('$2')) throw new Error(`uap hash printed ${hash}`);
      return `INSERT INTO users (username, email, password, role) VALUES (${sql(name)}, ${sql(`${name}@example.test`)}, ${sql(hash)}, ${sql(role)});`;
    });
    execFileSync('sqlite3', [
      join(dir, 'host.db'),
      'CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, email TEXT,' +
        ' password TEXT NOT NULL, role TEXT, is_active INTEGER NOT NULL DEFAULT 1);' +
        rows.join(''),
    ]);
    return new UapServer(dir, port);
  }

  /** Starts `uap serve` and waits for /health/ready. */
  async start() {
    const logPath = join(this.dir, 'uap.log');
    const log = openSync(logPath, 'a');
    this.child = spawn(uapBin(), ['serve', '--config', join(this.dir, 'uap.toml')], {
      cwd: this.dir,
      env: cleanEnv(),
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    let exited = null;
    this.child.once('exit', (code) => {
      exited = code;
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited !== null) throw new Error(`uap exited with ${exited}:\n${readFileSync(logPath, 'utf8')}`);
      try {
        const response = await fetch(`${this.baseUrl}/health/ready`, { signal: AbortSignal.timeout(1000) });
        if (response.status === 200) return this;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`uap was not ready on port ${this.port} within 60 s`);
      }
      await sleep(50);
    }
  }

  /** Kills the server; its base URL then refuses connections. */
  async stop() {
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }

  async destroy() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A started server. */
export async function startUap() {
  return (await UapServer.create()).start();
}

/** A fresh session token of `username`, straight over HTTP (not through the SDK). */
export async function login(baseUrl, username) {
  const response = await fetch(`${baseUrl}/api/v1/auth/authenticate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: USERS[username][0] }),
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`login of ${username}: ${response.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** An identifier no other test uses (rate limits count per identifier). */
export const uniqueName = () => `nobody-${randomUUID().slice(0, 12)}`;
