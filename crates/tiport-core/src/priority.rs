//! Work nobody waits for runs behind work somebody does.

/// Makes the calling thread background work (`store::background`: nice 10 and the idle I/O
/// class). File imports run so in the service: an upload's answer waits for its request's
/// thread, the store's decider and one `fdatasync`, and two imports parsing on the same two
/// cores at equal priority took CPU those need (BENCHMARKS.md, "Uploads while imports run").
pub fn background() {
    store::background();
}
