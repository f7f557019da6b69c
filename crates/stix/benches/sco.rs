//! Validation (strict profile) of cyber-observable objects, top-level 2.1 SCOs and a 2.0
//! observed-data record, which run the per-type checks of `types_sco` on top of the tables.
//!
//! The records are written here, one of each common type with its usual extensions, so that
//! every branch of the per-type dispatch that an import meets often is measured.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use stix::{Json, Options, SpecVersion};

const RECORDS: &[&str] = &[
    r#"{"type":"file","spec_version":"2.1","id":"file--fa1b868c-5fe2-5c85-8197-9674548379ec","name":"invoice.pdf.exe","size":25536,"hashes":{"SHA-256":"35a01331e9ad96f751278b891b6ea09699806faedfa237d40513d92ad1b7100f","MD5":"1717b7fff97d37a1e1a0029d83492de1"},"mime_type":"application/x-dosexec","ctime":"2018-11-23T08:17:27.000Z","extensions":{"windows-pebinary-ext":{"pe_type":"exe","imphash":"1717b7fff97d37a1e1a0029d83492de1","machine_hex":"014c","number_of_sections":4,"time_date_stamp":"2016-01-22T12:31:12Z","pointer_to_symbol_table_hex":"74726144","number_of_symbols":4542568,"size_of_optional_header":224,"characteristics_hex":"818f","optional_header":{"magic_hex":"010b","major_linker_version":2,"size_of_code":512,"address_of_entry_point":4096,"image_base":14548992,"hashes":{"SHA-256":"a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"}},"sections":[{"name":"CODE","entropy":0.061089},{"name":"DATA","size":512,"entropy":0.13},{"name":".idata","size":1536,"entropy":0.28,"hashes":{"SHA-256":"b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"}}]},"ntfs-ext":{"sid":"1234567","alternate_data_streams":[{"name":"second.stream","size":25536}]}}}"#,
    r#"{"type":"network-traffic","spec_version":"2.1","id":"network-traffic--f8ae967a-3dc3-5cdf-8f94-8505abff00c2","src_ref":"ipv4-addr--4d22aae0-2bf9-5427-8819-e4f6abf20a53","dst_ref":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","src_port":223,"dst_port":443,"protocols":["ipv4","tcp"],"start":"2016-06-19T14:18:00.000Z","end":"2016-06-19T14:19:00.000Z","extensions":{"socket-ext":{"is_listening":true,"address_family":"AF_INET","socket_type":"SOCK_STREAM","options":{"SO_REUSEADDR":1}},"tcp-ext":{"src_flags_hex":"00000002"},"http-request-ext":{"request_method":"get","request_value":"/download.html","request_version":"http/1.1","request_header":{"Accept-Encoding":["gzip,deflate"],"Host":["www.example.com"]}}}}"#,
    r#"{"type":"process","spec_version":"2.1","id":"process--f52a906a-0dfc-40bd-92f1-e7778ead38a9","pid":1221,"created_time":"2016-01-20T14:11:25.55Z","cwd":"/tmp/","command_line":"./gedit-bin --new-window","environment_variables":{"HOME":"/home/user"},"extensions":{"windows-process-ext":{"aslr_enabled":true,"dep_enabled":true,"priority":"HIGH_PRIORITY_CLASS","owner_sid":"S-1-5-21-186985262-1144665072-74031268-1309","integrity_level":"high"},"windows-service-ext":{"service_name":"sirvizio","display_name":"Sirvizio","start_type":"SERVICE_AUTO_START","service_type":"SERVICE_WIN32_OWN_PROCESS","service_status":"SERVICE_RUNNING"}}}"#,
    r#"{"type":"user-account","spec_version":"2.1","id":"user-account--0d5b424b-93b8-5cd8-ac36-306e1789d63c","user_id":"1001","account_login":"jdoe","account_type":"unix","display_name":"John Doe","is_service_account":false,"is_privileged":false,"can_escalate_privs":true,"account_created":"2016-01-20T12:31:12Z","credential_last_changed":"2016-01-20T14:27:43Z","account_first_login":"2016-01-20T14:26:07Z","account_last_login":"2016-07-22T16:08:28Z","extensions":{"unix-account-ext":{"gid":1001,"groups":["wheel"],"home_dir":"/home/jdoe","shell":"/bin/bash"}}}"#,
    r#"{"type":"windows-registry-key","spec_version":"2.1","id":"windows-registry-key--2ba37ae7-2745-5082-9dfd-9486dad41016","key":"HKEY_LOCAL_MACHINE\\System\\Foo\\Bar","values":[{"name":"Foo","data":"qwerty","data_type":"REG_SZ"},{"name":"Bar","data":"42","data_type":"REG_DWORD"}],"modified_time":"2018-01-20T12:31:12Z","number_of_subkeys":2}"#,
    r#"{"type":"x509-certificate","spec_version":"2.1","id":"x509-certificate--b595eaf0-0b28-5dad-9e8e-0fab9c1facc9","issuer":"C=ZA, ST=Western Cape, L=Cape Town, O=Thawte Consulting cc","validity_not_before":"2016-03-12T12:00:00Z","validity_not_after":"2016-08-21T12:00:00Z","subject":"C=US, ST=Maryland, L=Pasadena, O=Brent Baccala, OU=FreeSoft","serial_number":"36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:49:32:0a:b7:06","x509_v3_extensions":{"basic_constraints":"critical,CA:TRUE, pathlen:0","name_constraints":"permitted;IP:192.168.0.0/255.255.0.0","key_usage":"critical, keyCertSign"}}"#,
    r#"{"type":"email-message","spec_version":"2.1","id":"email-message--cf9b4b7f-14c8-5955-8065-020e0316b559","is_multipart":true,"received_lines":["from mail.example.com ([198.51.100.3]) by smtp.gmail.com with ESMTPSA id q23sm23309939wme.17.2016.07.19.07.20.32"],"content_type":"multipart/mixed","date":"2016-06-19T14:20:40.000Z","from_ref":"email-addr--89f52ea8-d6ef-51e9-8fce-6a29236436ed","to_refs":["email-addr--d1b3bf0c-f02a-51a1-8102-11aba7959868"],"subject":"Check out this picture of a cat!","additional_header_fields":{"Content-Disposition":"inline","X-Mailer":"Mutt/1.5.23"},"body_multipart":[{"content_type":"text/plain; charset=utf-8","content_disposition":"inline","body":"Cats are funny!"},{"content_type":"image/png","content_disposition":"attachment; filename=\"tabby.png\"","body_raw_ref":"artifact--4cce66f8-6eaa-53cb-85d5-3a85fca3a6c5"}]}"#,
    r#"{"type":"domain-name","spec_version":"2.1","id":"domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5","value":"example.com","resolves_to_refs":["ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"]}"#,
    r#"{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"198.51.100.3/32"}"#,
    r#"{"type":"observed-data","id":"observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf","created_by_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","created":"2016-04-06T19:58:16.000Z","modified":"2016-04-06T19:58:16.000Z","first_observed":"2015-12-21T19:00:00Z","last_observed":"2015-12-21T19:00:00Z","number_observed":50,"objects":{"0":{"type":"file","hashes":{"SHA-256":"0969de02ecf8a5f003e3f6d063d848c8a193aada092623f8ce408c15bcb5f038"},"name":"a.exe","parent_directory_ref":"1"},"1":{"type":"directory","path":"C:\\Windows\\System32"},"2":{"type":"ipv4-addr","value":"198.51.100.3","resolves_to_refs":["3"]},"3":{"type":"mac-addr","value":"d2:fb:49:24:37:18"},"4":{"type":"network-traffic","src_ref":"2","dst_port":80,"protocols":["tcp"]}}}"#,
];

/// The version a record is validated as: the observed-data record is a 2.0 bundle's member.
fn version(r: &str) -> Option<SpecVersion> {
    (!r.contains("\"spec_version\"")).then_some(SpecVersion::V20)
}

fn bench(c: &mut Criterion) {
    let bytes: usize = RECORDS.iter().map(|r| r.len()).sum();
    for r in RECORDS {
        let json = Json::parse(r).expect("parses");
        let report = stix::validate(&json, Options::strict(), version(r));
        assert!(report.is_valid(), "{r}: {:?}", report.messages());
    }
    let parsed: Vec<(Json<'_>, Option<SpecVersion>)> = RECORDS
        .iter()
        .map(|r| (Json::parse(r).unwrap(), version(r)))
        .collect();
    let mut group = c.benchmark_group("sco");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(format!("validate strict/{} records", RECORDS.len()), |b| {
        b.iter(|| {
            let mut invalid = 0usize;
            for (j, v) in &parsed {
                let report = stix::validate(black_box(j), Options::strict(), *v);
                invalid += usize::from(!report.is_valid());
            }
            black_box(invalid)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
