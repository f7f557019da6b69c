//! Work nobody waits for runs behind work somebody does.

/// Makes the calling thread background work: nice 10 (the lowest priority a thread may set
/// itself without privileges to undo) and the idle I/O class. File imports run so in the
/// service: an upload's answer waits for its request's thread, the store's decider and one
/// `fdatasync`, and with two imports parsing on the same two cores at equal priority the
/// uploads' p99 went from single-digit milliseconds to tens (BENCHMARKS.md, "Uploads while
/// imports run"). The idle I/O class cannot starve an import: the kernel's schedulers serve
/// idle requests that have waited long enough.
pub fn background() {
    #[cfg(target_os = "linux")]
    // SAFETY: system calls about the calling thread itself; no memory is passed. Failures are
    // ignored: this is an optimization.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        const IOPRIO_CLASS_IDLE: libc::c_long = 3 << 13;
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            libc::c_long::from(tid),
            IOPRIO_CLASS_IDLE,
        );
    }
}
