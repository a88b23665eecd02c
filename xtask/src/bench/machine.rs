//! The machine a run was measured on, from `/proc`.

use serde::Serialize;

/// What the report says about the machine.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    /// `/proc/loadavg`'s 1/5/15-minute averages before the run …
    pub load_before: String,
    /// … and after it (other work on the machine disturbs the figures).
    pub load_after: String,
}

impl Machine {
    /// Reads `/proc` (fields it cannot read say "unknown").
    pub fn detect() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            cpu: cpu_model(&read("/proc/cpuinfo")).unwrap_or_else(|| "unknown".into()),
            cores,
            memory_gib: mem_total_kib(&read("/proc/meminfo")).map_or(0.0, |kib| kib as f64 / 1024.0 / 1024.0),
            kernel: non_empty(read("/proc/sys/kernel/osrelease").trim()),
            load_before: load_average(),
            load_after: String::new(),
        }
    }

    /// Records the load average at the end of the run.
    pub fn finish(&mut self) {
        self.load_after = load_average();
    }
}

fn non_empty(value: &str) -> String {
    if value.is_empty() { "unknown".into() } else { value.to_owned() }
}

/// The three load averages of `/proc/loadavg`.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    non_empty(&text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The first `model name` of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == "model name")
        .map(|(_, value)| value.trim().to_owned())
}

/// `MemTotal` of `/proc/meminfo`, in KiB.
fn mem_total_kib(meminfo: &str) -> Option<u64> {
    let value = meminfo.lines().find_map(|line| line.strip_prefix("MemTotal:"))?;
    value.trim().strip_suffix("kB")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\n\
                       model name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor : 0\n"), None);
        assert_eq!(mem_total_kib("MemTotal:       24684064 kB\nMemFree: 1 kB\n"), Some(24_684_064));
        assert_eq!(mem_total_kib("MemFree: 1 kB\n"), None);
    }
}
