//! An open-loop load generator for the upload API (`scripts/bench-upload.sh` runs it).
//!
//! wrk keeps every connection busy: each sends its next request the moment the last one is
//! answered. That measures the most the service can take, but the latency it reports is only
//! the queue that such a client builds: with 32 connections and one writer, the mean latency
//! is 32 divided by the throughput (Little's law), whatever the service does. A latency target
//! belongs to a rate: this program sends requests on a fixed schedule (`--rate` requests per
//! second spread over `--connections` connections) and measures each from the moment it was
//! *due*, not from when it went out, so a stall that delays later requests counts against all
//! of them (wrk2's correction for coordinated omission).
//!
//! ```text
//! cargo run --release -p tiport --example upload-load -- URL --rate 300 --duration 60
//! ```
//!
//! `URL` is the upload route with its `api-version`; `TOKEN` comes from the environment. Every
//! request carries 100 indicators with ids never sent before, so every object is a real write.
//! Prints the achieved rate, objects per second, latency percentiles, and the count of answers
//! that were not 200 (any such answer makes the exit status 1).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// An `http://host:port/path` URL, the only kind the service is measured on.
#[derive(Clone)]
struct Url {
    host: String,
    path: String,
}

impl Url {
    fn parse(s: &str) -> Result<Url, String> {
        let rest = s
            .strip_prefix("http://")
            .ok_or_else(|| format!("{s}: only http:// URLs are supported"))?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Url {
            host: host.to_owned(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_owned()
            },
        })
    }
}

type Connection = BufReader<TcpStream>;

/// Sends one request, written in one piece as wrk writes it (a client library that writes the
/// headers and the body separately measured 3-5 ms slower per request here), on a kept-alive
/// connection, and reads the answer's status and body.
fn send(
    conn: &mut Option<Connection>,
    url: &Url,
    request: &[u8],
) -> std::io::Result<(u16, String)> {
    if conn.is_none() {
        let tcp = TcpStream::connect(&url.host)?;
        tcp.set_nodelay(true)?;
        *conn = Some(BufReader::new(tcp));
    }
    let c = conn.as_mut().expect("connected above");
    c.get_mut().write_all(request)?;
    let mut line = String::new();
    c.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0;
    let mut close = false;
    loop {
        line.clear();
        c.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("connection") && value.trim() == "close" {
            close = true;
        }
    }
    let mut body = vec![0; length];
    c.read_exact(&mut body)?;
    if close {
        *conn = None;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

struct Args {
    url: String,
    rate: f64,
    connections: usize,
    duration: Duration,
    objects: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut out = Args {
        url: String::new(),
        rate: 300.0,
        connections: 32,
        duration: Duration::from_secs(60),
        objects: 100,
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--rate" => {
                out.rate = value("--rate")?
                    .parse()
                    .map_err(|e| format!("--rate: {e}"))?
            }
            "--connections" => {
                out.connections = value("--connections")?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?
            }
            "--duration" => {
                out.duration = Duration::from_secs(
                    value("--duration")?
                        .parse()
                        .map_err(|e| format!("--duration: {e}"))?,
                )
            }
            "--objects" => {
                out.objects = value("--objects")?
                    .parse()
                    .map_err(|e| format!("--objects: {e}"))?
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => out.url = s.to_owned(),
        }
    }
    if out.url.is_empty() {
        return Err(
            "usage: upload-load URL [--rate R] [--connections C] [--duration S] \
                    [--objects N]"
                .into(),
        );
    }
    if out.rate <= 0.0 || out.connections == 0 {
        return Err("--rate and --connections must be positive".into());
    }
    Ok(out)
}

/// A body of `n` indicators whose ids are unique to this connection and request, each with an
/// IPv4 pattern, as a threat feed sends them.
fn body(conn: usize, request: u64, n: usize, run: u32) -> String {
    let mut s = String::with_capacity(n * 330);
    s.push_str(r#"{"sourcesystem":"bench","stixobjects":["#);
    for i in 0..n {
        let seq = request * n as u64 + i as u64;
        if i > 0 {
            s.push(',');
        }
        // A version-4 UUID whose bits come from the run, the connection and a sequence
        // number, scrambled so that ids arrive in random order, as real ids do.
        let x = splitmix(u64::from(run) << 40 ^ (conn as u64) << 32 ^ seq);
        let y = splitmix(x);
        s.push_str(&format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"bench","pattern":"[ipv4-addr:value = '{}.{}.{}.{}']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","labels":["bench"],"confidence":50}}"#,
            x >> 32,
            (x >> 16) & 0xffff,
            x & 0xfff,
            (y >> 48) & 0xfff,
            y & 0xffff_ffff_ffff,
            (y >> 24) & 0xff,
            (y >> 16) & 0xff,
            (y >> 8) & 0xff,
            y & 0xff,
        ));
    }
    s.push_str("]}");
    s
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How far past the end of the run requests still go out; a service further behind than this
/// has failed the rate, and the rest are counted as not answered.
const GRACE: Duration = Duration::from_secs(10);

struct Sample {
    /// From the moment the request was due to its answer.
    latency: Duration,
    ok: bool,
}

/// When one connection's requests are due: the first at `first`, then one every `interval`,
/// none at or after `end`.
#[derive(Clone, Copy)]
struct Schedule {
    first: Instant,
    interval: Duration,
    end: Instant,
}

/// What one connection brings back: a sample of each request it sent, the first few answers
/// that were not 200, and how many requests it never sent for being too far behind.
struct Outcome {
    samples: Vec<Sample>,
    errors: Vec<String>,
    dropped: usize,
}

/// Sends connection `c`'s requests, of `objects` indicators each, on its schedule.
fn drive(c: usize, url: &Url, auth: &str, objects: usize, run: u32, schedule: Schedule) -> Outcome {
    let Schedule {
        first,
        interval,
        end,
    } = schedule;
    let mut conn: Option<Connection> = None;
    let mut out = Outcome {
        samples: Vec::new(),
        errors: Vec::new(),
        dropped: 0,
    };
    for k in 0u64.. {
        let due = first + interval.mul_f64(k as f64);
        if due >= end {
            break;
        }
        if Instant::now() >= end + GRACE {
            // Far behind schedule: what is still due counts as not answered.
            let left = end.saturating_duration_since(due).as_secs_f64() / interval.as_secs_f64();
            out.dropped += left.ceil() as usize;
            break;
        }
        let b = body(c, k, objects, run);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            url.path,
            url.host,
            b.len()
        );
        let answer = send(&mut conn, url, request.as_bytes());
        let ok = match answer {
            Ok((200, _)) => true,
            Ok((status, text)) => {
                if out.errors.len() < 3 {
                    out.errors.push(format!("{status}: {text}"));
                }
                false
            }
            Err(e) => {
                conn = None;
                if out.errors.len() < 3 {
                    out.errors.push(e.to_string());
                }
                false
            }
        };
        out.samples.push(Sample {
            latency: due.elapsed(),
            ok,
        });
    }
    out
}

/// Prints the run's figures (`elapsed` seconds from the first due time); returns how many
/// requests were not answered 200.
fn report(args: &Args, samples: &[Sample], dropped: usize, elapsed: f64) -> usize {
    let failed = samples.iter().filter(|s| !s.ok).count() + dropped;
    let mut lat: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * lat.len() as f64).ceil() as usize;
        lat[i.clamp(1, lat.len()) - 1].as_secs_f64() * 1e3
    };
    let done = samples.len() + dropped - failed;
    println!(
        "open loop: {} requests due at {:.0}/s over {} connections for {} s, {} objects each",
        samples.len() + dropped,
        args.rate,
        args.connections,
        args.duration.as_secs(),
        args.objects
    );
    println!(
        "achieved: {:.0} requests/s, {:.0} objects/s; not 200: {failed} (of which never sent, the \
         run being {} s behind: {dropped})",
        done as f64 / elapsed,
        (done * args.objects) as f64 / elapsed,
        GRACE.as_secs()
    );
    println!(
        "latency from due time (ms): p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(99.9),
        pct(100.0)
    );
    failed
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let token = std::env::var("TOKEN").unwrap_or_else(|_| {
        eprintln!("TOKEN must hold a bearer token");
        std::process::exit(2);
    });
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let interval = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + args.duration;
    let threads: Vec<_> = (0..args.connections)
        .map(|c| {
            let url = Url::parse(&args.url).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2);
            });
            let auth = format!("Bearer {token}");
            let objects = args.objects;
            // Connections are staggered evenly over one interval.
            let schedule = Schedule {
                first: start + interval.mul_f64(c as f64 / args.connections as f64),
                interval,
                end,
            };
            std::thread::spawn(move || drive(c, &url, &auth, objects, run, schedule))
        })
        .collect();
    let mut samples = Vec::new();
    let mut dropped = 0;
    for t in threads {
        let outcome = t.join().expect("a load thread panicked");
        dropped += outcome.dropped;
        for msg in outcome.errors {
            eprintln!("not 200: {msg}");
        }
        samples.extend(outcome.samples);
    }
    let elapsed = start.elapsed().as_secs_f64();
    if report(&args, &samples, dropped, elapsed) > 0 {
        std::process::exit(1);
    }
}
