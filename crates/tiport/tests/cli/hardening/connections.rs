//! Slow and idle connections (item 1): they do not keep other clients out, and each kind is
//! cut off by its own deadline, over plain HTTP and TLS.

use super::*;

#[test]
fn slow_and_silent_connections_do_not_keep_other_clients_out() {
    let s = Service::start(&["--max-connections", "64"]);
    let a = addr(&s);
    let token = s.token();
    // Five times the cap: each kind of slow client the attack used.
    let held = slow_clients(&a, &s.cred("tenant_id"), 100);
    assert!(
        held.len() > 64,
        "the attacker got {} connections",
        held.len()
    );
    for _ in 0..5 {
        assert!(
            healthz_within(&a, Duration::from_secs(2)),
            "/healthz not answered while slow clients hold connections"
        );
    }
    // An authenticated client gets its work done too.
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]});
    let (status, answer) = s.upload(&token, &body);
    assert_eq!(status, 200, "{answer}");
    assert!(!s.token().is_empty());
    // The service keeps no more connections than its cap (plus its own few sockets).
    let sockets = open_sockets(&s);
    assert!(sockets <= 64 + 16, "{sockets} sockets open");
    drop(held);
}

#[test]
fn silent_connections_are_closed_after_the_header_timeout() {
    let s = Service::start(&["--header-timeout", "1s"]);
    let mut silent = TcpStream::connect(addr(&s)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut half = TcpStream::connect(addr(&s)).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    // Closed by the service: a read returns the end of the stream (or the 408 hyper may send
    // first), well before our own read timeout.
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the silent connection got {:?}", &buf[..n]);
    let mut rest = Vec::new();
    let _ = half.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
    // A keep-alive connection that goes idle is closed the same way.
    let mut idle = TcpStream::connect(addr(&s)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(idle);
    assert_eq!(read_answer(&mut r).unwrap().status, 200);
    let idle_from = Instant::now();
    let mut tail = Vec::new();
    let _ = r.read_to_end(&mut tail);
    assert!(idle_from.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_body_trickled_in_is_cut_off() {
    let s = Service::start(&[]);
    let mut c = TcpStream::connect(addr(&s)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "POST /{}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
        s.cred("tenant_id")
    )
    .unwrap();
    // One byte every 1.5 s, as the attack did (it used five): after the grace period the
    // service stops waiting.
    let started = Instant::now();
    let mut writer = c.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..20 {
            if writer.write_all(b"g").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1500));
        }
    });
    let answer = read_answer(&mut BufReader::new(c));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "waited {took:?}");
    if let Ok(a) = answer {
        assert_eq!(a.status, 408, "{}", a.text());
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["error"], "invalid_request", "{v}");
    }
    trickle.join().unwrap();
}

#[test]
fn slow_handshakes_do_not_keep_tls_clients_out() {
    let tls = crate::service::Tls::new();
    let cert = &tls.cert;
    let s = Service::start(&[&tls.flags()[..], &["--max-connections", "32"]].concat());
    let a = addr(&s);
    // Silent connections and half a ClientHello, five times the cap.
    let mut held = Vec::new();
    for i in 0..160 {
        if let Ok(mut c) = TcpStream::connect(&a) {
            if i % 2 == 0 {
                let _ = c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
            }
            held.push(c);
        }
    }
    for _ in 0..3 {
        let started = Instant::now();
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "5", "--cacert", cert.to_str().unwrap()])
            .arg(format!("{}/healthz", s.base))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    drop(held);
}
