//! Who runs an import, so that an import whose process died can be told from one still running.
//!
//! An owner is `host/pid/start`, where `start` is the process's start time in clock ticks since
//! boot (`/proc/<pid>/stat`, field 22): a pid can be reused, a pid with the same start time
//! cannot. An owner on this host whose process is gone (or is another process under the same
//! pid) is gone; an owner on another host is never declared gone here, because only that host
//! can tell (the shared-database engine will use leases for that).

use std::fs;

/// This process, as an owner string.
pub fn current() -> String {
    let pid = std::process::id();
    format!("{}/{pid}/{}", hostname(), start_time(pid).unwrap_or(0))
}

/// Whether the process named by `owner` has stopped.
pub fn is_gone(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, '/');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        // Not written by this code: nobody can finish it.
        return true;
    };
    if host != hostname() {
        return false;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return true;
    };
    if !std::path::Path::new("/proc/self/stat").exists() {
        // No procfs: liveness cannot be told, so nothing is failed behind a live process's back.
        return false;
    }
    match start_time(pid) {
        None => true,
        Some(s) => s != start,
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Field 22 of `/proc/<pid>/stat`; the command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone() {
        assert!(!is_gone(&current()));
    }

    #[test]
    fn a_finished_process_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let owner = format!("{}/{pid}/{}", hostname(), start_time(pid).unwrap_or(1));
        child.wait().unwrap();
        assert!(is_gone(&owner));
    }

    #[test]
    fn a_reused_pid_is_gone() {
        let me = std::process::id();
        let start = start_time(me).unwrap();
        assert!(is_gone(&format!("{}/{me}/{}", hostname(), start + 1)));
    }

    #[test]
    fn another_host_is_never_declared_gone() {
        assert!(!is_gone("some-other-host.example/1/1"));
        assert!(is_gone("garbage"));
    }
}
