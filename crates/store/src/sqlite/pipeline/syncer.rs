//! The syncer thread: writes the frames of every group waiting to the version log, makes them
//! durable with one `fdatasync`, then, in order, answers each group and hands its frames to
//! the applier.
//!
//! Invariants kept:
//! - no write is answered before its frame, and every frame reserved before it, is durable
//!   (the `fdatasync` covers the whole batch, and batches are taken in the order groups were
//!   decided);
//! - groups are answered in order, those without frames too: what they were told (say,
//!   "unchanged") may rest on a frame before them;
//! - each group is uncounted from the lease exactly once: here if it has no frames or its
//!   frames could not be written, otherwise by the applier's commit of its rows;
//! - answers slow down to what the applier sustains: a group waits while more than
//!   `MAX_QUEUED_ROWS` rows are queued for it.
//!
//! Relied on: the decider reserved each group's space in the order of `seq`, under the lease.
//! A write or sync that fails breaks the store (the frames answered before stay, for the next
//! opening to apply; the unanswered ones are not cut, since an import's extents may follow).
//! The whole argument: ARCHITECTURE.md, `crates/store`, "Durability of the embedded store".

use std::os::unix::fs::FileExt;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use super::{fail_replies, ApplyJob, Shared, SyncJob, MAX_QUEUED_ROWS};
use crate::sqlite::redo;
use crate::StoreError;

pub fn syncer_loop(shared: &Shared, rx: Receiver<SyncJob>, apply: &SyncSender<ApplyJob>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let written = write_batch(shared, &batch);
        if let Err(e) = &written {
            // A failed write or sync leaves the log's state uncertain: no more writes until the
            // store is opened again, which applies the frames that were answered before (the
            // unanswered ones are not cut here: an import's extents may follow them).
            shared.set_broken(&format!("cannot write the version log: {e}"));
        }
        for job in batch {
            match job {
                SyncJob::Flush(done) => {
                    let _ = done.send(());
                }
                SyncJob::Group {
                    seq,
                    frames,
                    replies,
                    outcomes,
                    ..
                } => {
                    if let Err(e) = &written {
                        if !frames.is_empty() {
                            shared.lease.frames_failed();
                        }
                        end_groups(shared, apply, 1);
                        fail_replies(replies, &StoreError::Backend(e.clone().into()));
                        continue;
                    }
                    if frames.is_empty() {
                        end_groups(shared, apply, 1);
                    } else {
                        hand_on(shared, apply, seq, frames);
                    }
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                }
            }
        }
    }
}

/// Writes the frames of every group of `batch` where the decider reserved them, and makes them
/// durable with one `fdatasync` (none if there were no frames).
fn write_batch(shared: &Shared, batch: &[SyncJob]) -> Result<(), String> {
    if let Some(e) = shared.broken() {
        return Err(e.to_string());
    }
    let file = shared.lease.file();
    let mut wrote = false;
    for job in batch {
        if let SyncJob::Group { at, bytes, .. } = job {
            if !bytes.is_empty() {
                wrote = true;
                file.write_all_at(bytes, *at).map_err(|e| e.to_string())?;
            }
        }
    }
    if wrote {
        file.sync_data().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Uncounts groups that leave nothing for the applier to commit, and has the applier free the
/// lease if nothing else keeps it.
fn end_groups(shared: &Shared, apply: &SyncSender<ApplyJob>, groups: u64) {
    if shared.lease.end_groups(groups) {
        let _ = apply.send(ApplyJob::Release);
    }
}

/// Hands the durable frames of group `seq` to the applier, once it has room for their rows.
fn hand_on(
    shared: &Shared,
    apply: &SyncSender<ApplyJob>,
    seq: u64,
    frames: Vec<(u64, u64, redo::Entry)>,
) {
    {
        let mut decided = shared.decided.lock().expect("decided");
        for f in &frames {
            decided.insert(f.2.ws, seq);
        }
    }
    let rows: u64 = frames.iter().map(|f| f.2.rows.len() as u64).sum();
    {
        let mut queued = shared.queued_rows.lock().expect("queued rows");
        // A broken applier takes its jobs without applying them, but do not count on a
        // stopped one.
        while *queued > MAX_QUEUED_ROWS && shared.broken().is_none() {
            queued = shared
                .rows_taken
                .wait_timeout(queued, Duration::from_millis(100))
                .expect("queued rows")
                .0;
        }
        *queued += rows;
    }
    // The frames are durable: if the applier is gone, opening the store again applies them.
    if apply.send(ApplyJob::Apply { seq, frames }).is_err() {
        shared.set_broken("the applier stopped");
    }
}
