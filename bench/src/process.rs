//! The server processes: their CPU time and memory read from /proc, the fd limit, and the
//! limit server started as a child of the generator (so its CPU and RSS are its own).

use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// A process's CPU seconds (user + system) and resident memory at one moment.
pub struct Usage {
    pid: Option<u32>,
    cpu_seconds: f64,
    rss_bytes: u64,
    at: Instant,
}

/// What a process used over a measured window.
pub struct Measured {
    /// CPU seconds per second of the window: 2.0 is both cores of this machine.
    pub cpu_cores: f64,
    pub rss_mb: f64,
}

impl Usage {
    pub fn start(pid: Option<u32>) -> Usage {
        let (cpu_seconds, rss_bytes) = pid.map(read).unwrap_or((0.0, 0));
        Usage { pid, cpu_seconds, rss_bytes, at: Instant::now() }
    }

    pub fn rss_bytes(&self) -> u64 {
        self.rss_bytes
    }

    /// Seconds since `start`.
    pub fn elapsed(&self) -> f64 {
        self.at.elapsed().as_secs_f64()
    }

    /// The CPU used since `start`, per second of wall time.
    pub fn finish(&self) -> Measured {
        let (cpu, rss) = self.pid.map(read).unwrap_or((0.0, 0));
        let elapsed = self.at.elapsed().as_secs_f64().max(1e-3);
        Measured { cpu_cores: (cpu - self.cpu_seconds) / elapsed, rss_mb: rss as f64 / 1048576.0 }
    }
}

/// Waits until `pid` is idle (under 0.1 cores over half a second; at most 30 s), so a run does
/// not pay for the previous one's closing connections.
pub async fn wait_idle(pid: Option<u32>) {
    for _ in 0..60 {
        let usage = Usage::start(pid);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if usage.finish().cpu_cores < 0.1 {
            return;
        }
    }
}

/// (CPU seconds, RSS bytes) of `pid`, from /proc (zeros when it is gone).
fn read(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf only reads a constant of the system.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let cpu = (ticks(11) + ticks(12)) / ticks_per_second;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    (cpu, rss_kb * 1024)
}

/// The whole machine's CPU seconds so far, from /proc/stat: (busy — every state but idle and
/// iowait —, of which niced: processes at a positive nice value, such as a build that was
/// started with `nice` beside the benchmark).
pub fn machine_cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // user nice system idle iowait irq softirq steal (guest time is within user and nice).
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| l.split_whitespace().filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    // SAFETY: sysconf only reads a constant of the system.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let busy: f64 = fields.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    (busy / ticks_per_second, fields.get(1).copied().unwrap_or(0.0) / ticks_per_second)
}

/// Raises this process's soft fd limit to its hard limit (children inherit it); returns the
/// limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            let _ = libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    limit.rlim_cur
}

/// The bare WebSocket limit server, run as `parley-bench limit-server` in a child process.
pub struct LimitServer {
    child: Child,
    pub addr: String,
}

impl LimitServer {
    pub fn start() -> io::Result<LimitServer> {
        // /proc/self/exe: still this binary even if a build replaced the file meanwhile.
        let mut child =
            Command::new("/proc/self/exe").arg("limit-server").arg("127.0.0.1:0").stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("limit listening on ")
            .map(|a| a.trim_start_matches("ws://").to_string())
            .ok_or_else(|| io::Error::other(format!("limit server said {line:?}")))?;
        std::thread::spawn(move || for _ in reader.lines() {});
        Ok(LimitServer { child, addr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LimitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
