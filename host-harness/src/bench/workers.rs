//! Many workers on one PostgreSQL: `serve` processes sharing one job queue
//! (the pool the many-worker test drives too), and the bench figure of 1, 2
//! and 4 of them draining the same mailboxes, with the database's load.

use super::{Results, Sizes, World, progress};
use crate::pg_cluster::Cluster;
use crate::store::Location;
use anyhow::Context as _;
use graph_emulator::{Latency, Throttling};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `serve` processes of one host binary on one database, each with its own
/// log file in the data directory (`worker-N.log`).
pub struct WorkerPool {
    exe: PathBuf,
    home: PathBuf,
    emulator: url::Url,
    database: String,
    lease_seconds: u64,
    spawned: usize,
    /// The running workers (a killed one is replaced in its slot).
    pub workers: Vec<Child>,
}

impl WorkerPool {
    /// A pool of no workers yet: `exe serve` with the data directory `home`
    /// (where the key file is), the emulator at `emulator`, the database at
    /// `database` and leases of `lease_seconds`.
    pub fn new(
        exe: &Path,
        home: &Path,
        emulator: &url::Url,
        database: &str,
        lease_seconds: u64,
    ) -> Self {
        Self {
            exe: exe.to_path_buf(),
            home: home.to_path_buf(),
            emulator: emulator.clone(),
            database: database.to_string(),
            lease_seconds,
            spawned: 0,
            workers: Vec::new(),
        }
    }

    fn spawn(&mut self) -> anyhow::Result<Child> {
        self.spawned += 1;
        let log = std::fs::File::create(self.home.join(format!("worker-{}.log", self.spawned)))?;
        Command::new(&self.exe)
            .args([
                "--emulator",
                self.emulator.as_str(),
                "serve",
                "--poll-seconds",
                "1",
            ])
            .args(["--lease-seconds", &self.lease_seconds.to_string()])
            .env("EMAIL_LOGGING_HOME", &self.home)
            .env("EMAIL_LOGGING_DATABASE", &self.database)
            .env("EMAIL_LOGGING_LOG", "info")
            .env_remove("EMAIL_LOGGING_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))
    }

    /// Starts `n` more workers.
    pub fn start(&mut self, n: usize) -> anyhow::Result<()> {
        for _ in 0..n {
            let child = self.spawn()?;
            self.workers.push(child);
        }
        Ok(())
    }

    /// Kills worker `i` with SIGKILL (no chance to clean up) and waits for it.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        self.workers[i].kill()?;
        self.workers[i].wait()?;
        Ok(())
    }

    /// Starts a new worker in slot `i` (after [`WorkerPool::kill`]).
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.workers[i] = self.spawn()?;
        Ok(())
    }

    /// Stops every worker.
    pub fn stop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        self.workers.clear();
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until every mailbox's Inbox is empty; the time it took.
pub async fn wait_drained(world: &World, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let left: usize = world
            .companies
            .iter()
            .map(|(_, m)| {
                world
                    .emulator
                    .folder_counts(m)
                    .get("inbox")
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        if left == 0 {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "{left} messages still in the Inboxes after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one PostgreSQL database did, from its statistics.
#[derive(Debug, Clone, Copy, Default)]
struct DbLoad {
    commits: i64,
    rows_written: i64,
}

fn db_load(url: &str) -> anyhow::Result<DbLoad> {
    crate::store::off_runtime(|| db_load_now(url))
}

fn db_load_now(url: &str) -> anyhow::Result<DbLoad> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    // The statistics are sent by each backend when it is idle; a snapshot
    // taken in this transaction sees what reached the collector.
    let row = client.query_one(
        "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted
         FROM pg_stat_database WHERE datname = current_database()",
        &[],
    )?;
    Ok(DbLoad {
        commits: row.get(0),
        rows_written: row.get(1),
    })
}

/// The one figure for `workers` workers.
#[derive(Debug, Clone, Copy)]
struct Figure {
    msgs_per_s: f64,
    db_cpu_us_per_msg: f64,
    commits_per_msg: f64,
    rows_per_msg: f64,
    db_cpu_us_per_empty_run: f64,
    commits_per_empty_run: f64,
}

/// Waits until every company has recorded `runs` runs; answers how many
/// statements the waiting itself sent to the database (one per company per
/// look: each counts as a transaction of its own).
async fn wait_runs(world: &World, runs: usize, limit: Duration) -> anyhow::Result<i64> {
    let started = Instant::now();
    let mut statements = 0;
    loop {
        statements += world.companies.len() as i64;
        let mut behind = 0;
        for (company, _) in &world.companies {
            if crate::jobs::runs(&world.erp.db, *company)?.len() < runs {
                behind += 1;
            }
        }
        if behind == 0 {
            return Ok(statements);
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "{behind} companies still without their run after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn one(
    cluster: &Cluster,
    s: &Sizes,
    latency: Latency,
    workers: usize,
) -> anyhow::Result<Figure> {
    let url = cluster.create_database(&format!("bench_workers_{workers}"))?;
    let world = World::new_on(
        s.worker_mailboxes,
        s.messages_per_mailbox,
        50,
        &Location::Postgres(url.clone()),
    )
    .await?;
    world.emulator.set_throttling(Some(Throttling::default()));
    world.emulator.set_latency(latency);
    for (company, _) in &world.companies {
        crate::store::jobs::set_next_run(&world.erp.db, *company, crate::erp::JOB, 0)?;
    }
    let exe = std::env::current_exe().context("cannot find this program")?;
    let mut pool = WorkerPool::new(&exe, world.dir.path(), &world.base, &url, 30);
    let before = db_load(&url)?;
    let cpu_before = cluster.server_cpu()?;
    pool.start(workers)?;
    let took = wait_drained(&world, Duration::from_secs(3600)).await?;
    pool.stop();
    // Their backends end with them; the server counts their CPU once it
    // has reaped them, and their statistics once they were sent.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cpu = cluster.server_cpu()? - cpu_before;
    let after = db_load(&url)?;
    let messages = (s.worker_mailboxes * s.messages_per_mailbox) as f64;

    // What a run costs the database when there is nothing to log: one more
    // run of every company over its empty Inbox, as every ten minutes.
    let mut runs = 0;
    for (company, _) in &world.companies {
        runs = runs.max(crate::jobs::runs(&world.erp.db, *company)?.len());
        crate::store::jobs::set_next_run(&world.erp.db, *company, crate::erp::JOB, 0)?;
    }
    let cpu_before_empty = cluster.server_cpu()?;
    pool.start(workers)?;
    let observer = wait_runs(&world, runs + 1, Duration::from_secs(600)).await?;
    pool.stop();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let empty_cpu = cluster.server_cpu()? - cpu_before_empty;
    let after_empty = db_load(&url)?;
    let companies = world.companies.len() as f64;
    Ok(Figure {
        msgs_per_s: messages / took.as_secs_f64(),
        db_cpu_us_per_msg: cpu.as_secs_f64() * 1e6 / messages,
        commits_per_msg: (after.commits - before.commits) as f64 / messages,
        rows_per_msg: (after.rows_written - before.rows_written) as f64 / messages,
        db_cpu_us_per_empty_run: empty_cpu.as_secs_f64() * 1e6 / companies,
        commits_per_empty_run: (after_empty.commits - after.commits - observer) as f64 / companies,
    })
}

/// 1, 2 and 4 workers over the same mailboxes, each on a fresh database of
/// one throw-away cluster, with the drain's latency and throttling.
pub(super) async fn measure(s: &Sizes, latency: Latency, r: &mut Results) -> anyhow::Result<()> {
    let cluster = Cluster::start().context("the workers figure needs a PostgreSQL server")?;
    let mut figures = Vec::new();
    for workers in [1, 2, 4] {
        progress(&format!(
            "  {workers} workers, {} mailboxes of {} messages",
            s.worker_mailboxes, s.messages_per_mailbox
        ));
        figures.push(one(&cluster, s, latency, workers).await?);
    }
    r.worker_mailboxes = s.worker_mailboxes as u64;
    [
        r.workers_1_msgs_per_s,
        r.workers_2_msgs_per_s,
        r.workers_4_msgs_per_s,
    ] = [0, 1, 2].map(|i| figures[i].msgs_per_s);
    let n = figures.len() as f64;
    r.workers_db_cpu_us_per_message = figures.iter().map(|f| f.db_cpu_us_per_msg).sum::<f64>() / n;
    r.workers_db_commits_per_message = figures.iter().map(|f| f.commits_per_msg).sum::<f64>() / n;
    r.workers_db_rows_per_message = figures.iter().map(|f| f.rows_per_msg).sum::<f64>() / n;
    r.workers_db_cpu_us_per_empty_run = figures
        .iter()
        .map(|f| f.db_cpu_us_per_empty_run)
        .sum::<f64>()
        / n;
    r.workers_db_commits_per_empty_run =
        figures.iter().map(|f| f.commits_per_empty_run).sum::<f64>() / n;
    Ok(())
}
