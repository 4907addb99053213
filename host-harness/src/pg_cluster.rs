//! A throw-away PostgreSQL cluster, for the tests and the bench: `initdb`
//! and a `postgres` server of Debian's `postgresql` package, in a temporary
//! directory, on a free loopback port, gone when the process ends.
//!
//! The server refuses to run as root, so a root process runs it as the
//! package's `postgres` user. It dies with the process that started it
//! (even a killed one: the kernel sends it `SIGQUIT` when its parent dies).

use crate::store::off_runtime;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A running cluster.
pub struct Cluster {
    port: u16,
    dir: PathBuf,
    server: Mutex<Option<Child>>,
}

/// Where the server's programs are: `EMAIL_LOGGING_PG_BIN`, else the
/// directory of `initdb` on the `PATH`, else the newest
/// `/usr/lib/postgresql/N/bin` (Debian keeps them off the `PATH`).
fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("EMAIL_LOGGING_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server found: install Debian's postgresql package (apt-get install postgresql), or set EMAIL_LOGGING_PG_BIN to the directory of initdb and postgres"
        ),
    }
}

/// The user the server runs as: this one, or `postgres` for root.
fn server_user() -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres")?;
    // SAFETY: getpwnam returns a pointer into static storage or null; it is
    // read at once, and the tests start clusters one at a time.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!(
            "PostgreSQL does not run as root and there is no postgres user: install Debian's postgresql package (apt-get install postgresql)"
        );
    }
    // SAFETY: pw is a valid passwd record (checked non-null above).
    Ok(Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) }))
}

/// Runs `cmd` as the server's user, in `dir` (a directory that user owns:
/// the caller's may be closed to it).
fn as_server_user<'c>(
    cmd: &'c mut Command,
    user: Option<(u32, u32)>,
    dir: &Path,
) -> &'c mut Command {
    use std::os::unix::process::CommandExt as _;
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd.current_dir(dir)
}

fn chown(path: &Path, user: Option<(u32, u32)>) -> anyhow::Result<()> {
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .with_context(|| format!("cannot give {} to the postgres user", path.display()))?;
    }
    Ok(())
}

impl Cluster {
    /// Creates and starts a cluster (a few seconds). Its superuser is
    /// `postgres`, trusted on loopback.
    pub fn start() -> anyhow::Result<Self> {
        let bin = bin_dir()?;
        let user = server_user()?;
        let dir = tempfile::Builder::new()
            .prefix("email-logging-pg-")
            .tempdir()
            .context("cannot create the cluster's directory")?
            .keep();
        chown(&dir, user)?;
        let data = dir.join("data");
        let out = as_server_user(
            Command::new(bin.join("initdb"))
                .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
                .args(["--no-sync", "--no-instructions", "-D"])
                .arg(&data),
            user,
            &dir,
        )
        .output()
        .context("cannot run initdb")?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let server = spawn_server(&bin, &data, &dir, port, user, log)?;
        let cluster = Self {
            port,
            dir,
            server: Mutex::new(Some(server)),
        };
        cluster.wait_ready()?;
        Ok(cluster)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let url = self.url("postgres");
            // The client is closed where it was made: off the runtime.
            match off_runtime(|| postgres::Client::connect(&url, postgres::NoTls).map(drop)) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log =
                        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                    bail!("PostgreSQL did not start: {e}; its log: {}", log.trim());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The URL of database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty database and answers its URL.
    pub fn create_database(&self, name: &str) -> anyhow::Result<String> {
        anyhow::ensure!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "a database name of lower-case letters, digits and _ only, not {name:?}"
        );
        let url = self.url("postgres");
        off_runtime(|| {
            postgres::Client::connect(&url, postgres::NoTls)?
                .batch_execute(&format!("CREATE DATABASE {name}"))
        })?;
        Ok(self.url(name))
    }

    /// The CPU time the server used so far: its own and that of the
    /// processes it has reaped (the backends of connections that ended).
    pub fn server_cpu(&self) -> anyhow::Result<Duration> {
        let pid = match &*self.server.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(server) => server.id(),
            None => bail!("the server is stopped"),
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields 14 to 17 (utime, stime, cutime, cstime) follow the
        // parenthesised command name, which may hold spaces.
        let after_name = &stat[stat.rfind(')').context("a damaged /proc stat")? + 1..];
        let ticks: u64 = after_name
            .split_whitespace()
            .skip(11)
            .take(4)
            .map(|t| t.parse::<u64>().unwrap_or(0))
            .sum();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
    }

    /// Stops the server at once and removes the cluster's files.
    pub fn stop(&self) {
        if let Some(mut server) = self.server.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // SAFETY: kill sends a signal to the server's pid, a child of
            // ours not yet waited for (so the pid is not reused).
            unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGQUIT) };
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the server in the foreground of a child process: loopback only,
/// its socket in the cluster's directory, and without waiting on the disk
/// (a throw-away cluster has nothing to keep across a power loss).
fn spawn_server(
    bin: &Path,
    data: &Path,
    dir: &Path,
    port: u16,
    user: Option<(u32, u32)>,
    log: std::fs::File,
) -> anyhow::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D")
        .arg(data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args(["-c", "fsync=off", "-c", "max_connections=200"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    as_server_user(&mut cmd, user, dir);
    // SAFETY: prctl is async-signal-safe; the child asks to be sent SIGQUIT
    // (PostgreSQL's immediate shutdown) when the thread that started it
    // dies, so a killed test leaves no server behind. It is set after the
    // user change, which would clear it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The parent-death signal follows the starting thread, not the
    // process: a thread that lives as long as the process starts it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-parent".into())
        .spawn(move || {
            let _ = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        })?;
    rx.recv()?.context("cannot start the PostgreSQL server")
}

/// A loopback port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One cluster for the whole process (tests of one binary share it, each in
/// a database of its own), stopped when the process exits.
pub fn shared() -> anyhow::Result<&'static Cluster> {
    static CLUSTER: std::sync::OnceLock<Result<Cluster, String>> = std::sync::OnceLock::new();
    extern "C" fn stop_at_exit() {
        if let Some(Ok(c)) = CLUSTER.get() {
            c.stop();
        }
    }
    CLUSTER
        .get_or_init(|| {
            let c = Cluster::start().map_err(|e| format!("{e:#}"))?;
            // SAFETY: registers a plain function to run at exit.
            unsafe { libc::atexit(stop_at_exit) };
            Ok(c)
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A new database of its own in the shared cluster, for one test.
pub fn fresh_database() -> anyhow::Result<String> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shared()?.create_database(&format!("t{}_{n}", std::process::id()))
}
