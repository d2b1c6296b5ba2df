//! `aws-fault-proxy` — slipway's own test tool: an HTTP/1.1 reverse proxy that stands between
//! slipway and an AWS API endpoint (the moto server in tests) and makes it behave like a busy
//! real one.
//!
//! - **Latency:** every request waits `--latency-ms` before it is forwarded.
//! - **Faults before the request lands** (`--fault-rate`): the request never reaches the
//!   endpoint; the client gets what AWS sends when it sheds load — EC2 `RequestLimitExceeded`,
//!   ELBv2/IAM `Throttling`, S3 `SlowDown`, or a bare `503 Service Unavailable`.
//! - **Lost responses** (`--lost-response-rate`): the request *is* forwarded and carried out,
//!   then the client gets a `500 InternalError` instead of the answer. This is the ambiguous
//!   failure that makes naive retries of a create call duplicate the object.
//! - **Eventual consistency** (`--propagation-ms N`): for N ms after something is created, AWS
//!   may not know it everywhere yet, and the proxy answers as AWS then does, in the service's
//!   error format, without forwarding:
//!   - a request that names a just-created security group, subnet, route table, instance,
//!     internet gateway or VPC gets `InvalidGroup.NotFound`, `InvalidSubnetID.NotFound`,
//!     `InvalidRouteTableID.NotFound`, `InvalidInstanceID.NotFound`,
//!     `InvalidInternetGatewayID.NotFound` or `InvalidVpcID.NotFound` (filters and deletes are
//!     left alone: a filter finds nothing rather than failing, and a delete so early is not
//!     what this mode is about);
//!   - a request that names a just-created volume gets `IncorrectState` (still `creating`);
//!   - `RunInstances` with an instance profile just created (or just given its role) gets
//!     `InvalidParameterValue … Invalid IAM Instance Profile name`;
//!   - for N ms after instances are terminated or a load balancer deleted (their network
//!     interfaces linger), deleting a security group, subnet or internet gateway, or detaching
//!     a gateway, gets `DependencyViolation`;
//!   - a just-allocated Elastic IP, NAT gateway or VPC endpoint gets
//!     `InvalidAllocationID.NotFound`, `NatGatewayNotFound` or `InvalidVpcEndpointId.NotFound`;
//!     for N ms after a NAT gateway is deleted, releasing an address gets `AuthFailure` (AWS's
//!     answer while the gateway still holds it);
//!   - for N ms after an instance is terminated, `RunInstances` asking for its private address
//!     gets `InvalidIPAddress.InUse` (its interface still holds the address).
//! - **AWS's stricter answers**, always: where moto answers a call more leniently than AWS,
//!   the call is carried out and its answer replaced by AWS's error. DescribeListeners naming
//!   a listener ARN that is gone gets `ListenerNotFound` (moto lists the others).
//! - **An address held for good** (`--ip-in-use IP`, repeatable): `RunInstances` asking for it
//!   always gets `InvalidIPAddress.InUse`, as when an unrelated interface holds it.
//! - **A log** (`--log FILE`): one JSON line per request with the service, operation, fault,
//!   arrival and completion times (ms since start). Tests count calls and check the order of
//!   deletes from it.
//!
//! Faults are drawn from a seeded generator (`--seed`), so a failing run can be repeated. The
//! proxy prints `listening on 127.0.0.1:PORT` on its first line of stdout once it accepts
//! connections. It speaks just enough HTTP/1.1 for the AWS SDK: `Content-Length` or chunked
//! request bodies, one upstream connection per request (`Connection: close`), and keep-alive
//! towards the client.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head or body the proxy accepts (AWS's own limits are far below this).
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Options {
    listen: String,
    upstream: String,
    latency: Duration,
    fault_rate: f64,
    lost_response_rate: f64,
    seed: u64,
    log: Option<String>,
    /// How long a new object stays invisible to other calls (zero: off).
    propagation: Duration,
    /// Private addresses RunInstances always finds in use.
    ips_in_use: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: aws-fault-proxy --upstream HOST:PORT [--listen 127.0.0.1:0] [--latency-ms N] \
         [--fault-rate 0.2] [--lost-response-rate 0.0] [--propagation-ms N] [--ip-in-use IP]... \
         [--seed N] [--log FILE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut o = Options {
        listen: "127.0.0.1:0".into(),
        upstream: String::new(),
        latency: Duration::ZERO,
        fault_rate: 0.0,
        lost_response_rate: 0.0,
        seed: 1,
        log: None,
        propagation: Duration::ZERO,
        ips_in_use: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        let rate = |s: String| match s.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => usage(),
        };
        match a.as_str() {
            "--listen" => o.listen = value(),
            "--upstream" => o.upstream = value(),
            "--latency-ms" => {
                o.latency = Duration::from_millis(value().parse().unwrap_or_else(|_| usage()))
            }
            "--fault-rate" => o.fault_rate = rate(value()),
            "--lost-response-rate" => o.lost_response_rate = rate(value()),
            "--seed" => o.seed = value().parse().unwrap_or_else(|_| usage()),
            "--log" => o.log = Some(value()),
            "--ip-in-use" => o.ips_in_use.push(value()),
            "--propagation-ms" => {
                o.propagation = Duration::from_millis(value().parse().unwrap_or_else(|_| usage()))
            }
            _ => usage(),
        }
    }
    if o.upstream.is_empty() {
        usage()
    }
    o
}

/// What happened to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Forwarded,
    /// Answered by the proxy with a throttling or 503 error; the endpoint never saw it.
    Refused,
    /// Forwarded and carried out; the answer was replaced by a 500.
    ResponseLost,
    /// Answered by the proxy with this error, as AWS does while a change propagates; the
    /// endpoint never saw it.
    Propagating(&'static str),
    /// Carried out by the endpoint, whose answer was more lenient than AWS's: replaced by
    /// the error AWS gives ([`stricter_answer`]).
    Stricter(&'static str),
}

/// What was created or released recently, for `--propagation-ms`.
#[derive(Default)]
struct Recent {
    /// EC2 objects by id, since their creation.
    objects: HashMap<String, Instant>,
    /// Instance profiles by name, since they were created or given a role.
    profiles: HashMap<String, Instant>,
    /// The last time instances were terminated or a load balancer deleted.
    released: Option<Instant>,
    /// The last time a NAT gateway was deleted (its address stays held a while).
    nat_deleted: Option<Instant>,
    /// The private address each instance launched with, and when terminated instances' were
    /// released.
    instance_ips: HashMap<String, String>,
    released_ips: HashMap<String, Instant>,
}

/// The id element of each create's answer (only that one: a subnet's answer names its VPC too).
const CREATED: &[(&str, &str)] = &[
    ("CreateSecurityGroup", "groupId"),
    ("CreateSubnet", "subnetId"),
    ("CreateRouteTable", "routeTableId"),
    ("RunInstances", "instanceId"),
    ("CreateInternetGateway", "internetGatewayId"),
    ("CreateVolume", "volumeId"),
    ("CreateVpc", "vpcId"),
    ("AllocateAddress", "allocationId"),
    ("CreateNatGateway", "natGatewayId"),
    ("CreateVpcEndpoint", "vpcEndpointId"),
];

/// The error AWS gives for a reference to an object of this id's kind that it does not see
/// yet: (code, message).
fn unseen(id: &str) -> Option<(&'static str, String)> {
    let kind = id.split('-').next()?;
    Some(match kind {
        "sg" => ("InvalidGroup.NotFound", format!("The security group '{id}' does not exist")),
        "subnet" => ("InvalidSubnetID.NotFound", format!("The subnet ID '{id}' does not exist")),
        "rtb" => {
            ("InvalidRouteTableID.NotFound", format!("The routeTable ID '{id}' does not exist"))
        }
        "i" => ("InvalidInstanceID.NotFound", format!("The instance ID '{id}' does not exist")),
        "igw" => (
            "InvalidInternetGatewayID.NotFound",
            format!("The internetGateway ID '{id}' does not exist"),
        ),
        "vpc" => ("InvalidVpcID.NotFound", format!("The vpc ID '{id}' does not exist")),
        "vol" => ("IncorrectState", format!("The volume '{id}' is not 'available'")),
        "eipalloc" => {
            ("InvalidAllocationID.NotFound", format!("The allocation ID '{id}' does not exist"))
        }
        "nat" => ("NatGatewayNotFound", format!("The Nat Gateway {id} was not found")),
        "vpce" => {
            ("InvalidVpcEndpointId.NotFound", format!("The Vpc Endpoint Id '{id}' does not exist"))
        }
        _ => return None,
    })
}

/// The error AWS gives where the endpoint answered `req` more leniently, if any: (code,
/// message). DescribeListeners by ARNs fails whole on AWS when one of them is gone
/// (`ListenerNotFound`); moto answers with the listeners it still has.
fn stricter_answer(
    req: &Request,
    service: &str,
    response: &[u8],
) -> Option<(&'static str, String)> {
    if service != "elasticloadbalancing" || req.operation() != "DescribeListeners" {
        return None;
    }
    let body = String::from_utf8_lossy(response);
    let listed = elements(&body, "ListenerArn");
    let asked = req.params().into_iter().filter(|(k, _)| k.starts_with("ListenerArns.member."));
    let (_, gone) = asked.into_iter().find(|(_, arn)| !listed.contains(&arn.as_str()))?;
    Some(("ListenerNotFound", format!("One or more listeners not found: {gone}")))
}

/// Every text between `<tag>` and `</tag>` in `xml`.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(&rest[..j]);
        rest = &rest[j + close.len()..];
    }
    out
}

impl Shared {
    /// The error AWS would answer `req` with while recent changes propagate, if any.
    fn propagation_fault(&self, req: &Request, service: &str) -> Option<(&'static str, String)> {
        let window = self.opts.propagation;
        let op = req.operation();
        let params = req.params();
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |t: &Instant| t.elapsed() < window;
        if service == "ec2"
            && op == "RunInstances"
            && let Some((_, ip)) = params.iter().find(|(k, _)| k == "PrivateIpAddress")
            && (self.opts.ips_in_use.contains(ip) || recent.released_ips.get(ip).is_some_and(fresh))
        {
            return Some(("InvalidIPAddress.InUse", format!("Address {ip} is in use.")));
        }
        if window.is_zero() || service != "ec2" {
            return None;
        }
        if op == "ReleaseAddress" && recent.nat_deleted.as_ref().is_some_and(fresh) {
            return Some((
                "AuthFailure",
                "You do not have permission to access the specified resource.".to_string(),
            ));
        }
        if matches!(
            op.as_str(),
            "DeleteSecurityGroup"
                | "DeleteSubnet"
                | "DeleteInternetGateway"
                | "DetachInternetGateway"
        ) && recent.released.as_ref().is_some_and(fresh)
        {
            let id = params.iter().find(|(k, _)| k.ends_with("Id")).map_or("", |(_, v)| v.as_str());
            return Some(("DependencyViolation", format!("resource {id} has a dependent object")));
        }
        if op.starts_with("Delete") || op.starts_with("Terminate") || op == "ReleaseAddress" {
            return None;
        }
        if op == "RunInstances" {
            let profile = params.iter().find_map(|(k, v)| match k.as_str() {
                "IamInstanceProfile.Name" => Some(v.as_str()),
                "IamInstanceProfile.Arn" => v.rsplit('/').next(),
                _ => None,
            });
            if let Some(name) = profile
                && recent.profiles.get(name).is_some_and(fresh)
            {
                return Some((
                    "InvalidParameterValue",
                    format!(
                        "Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
                    ),
                ));
            }
        }
        params
            .iter()
            .filter(|(k, _)| !k.starts_with("Filter."))
            .find(|(_, v)| recent.objects.get(v.as_str()).is_some_and(fresh))
            .and_then(|(_, id)| unseen(id))
    }

    /// Remembers what a successful call created or released.
    fn record(&self, req: &Request, service: &str, response: &[u8]) {
        if self.opts.propagation.is_zero() {
            return;
        }
        let op = req.operation();
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        match (service, op.as_str()) {
            ("iam", "CreateInstanceProfile" | "AddRoleToInstanceProfile") => {
                if let Some((_, name)) =
                    req.params().into_iter().find(|(k, _)| k == "InstanceProfileName")
                {
                    recent.profiles.insert(name, now);
                }
            }
            ("ec2", "TerminateInstances") | ("elasticloadbalancing", "DeleteLoadBalancer") => {
                recent.released = Some(now);
                for (_, id) in req.params().iter().filter(|(k, _)| k.starts_with("InstanceId.")) {
                    if let Some(ip) = recent.instance_ips.remove(id) {
                        recent.released_ips.insert(ip, now);
                    }
                }
            }
            ("ec2", "DeleteNatGateway") => recent.nat_deleted = Some(now),
            ("ec2", _) => {
                let body = String::from_utf8_lossy(response);
                if let Some((_, tag)) = CREATED.iter().find(|(o, _)| *o == op) {
                    for id in elements(&body, tag) {
                        recent.objects.insert(id.to_string(), now);
                    }
                }
                let ip = req.params().into_iter().find(|(k, _)| k == "PrivateIpAddress");
                if let (Some((_, ip)), "RunInstances") = (ip, op.as_str()) {
                    for id in elements(&body, "instanceId") {
                        recent.instance_ips.insert(id.to_string(), ip.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

struct Shared {
    opts: Options,
    rng: Mutex<rand::rngs::StdRng>,
    log: Option<Mutex<std::fs::File>>,
    start: Instant,
    seq: AtomicU64,
    recent: Mutex<Recent>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let opts = parse_args();
    let listener = match TcpListener::bind(&opts.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("aws-fault-proxy: cannot listen on {}: {e}", opts.listen);
            std::process::exit(1)
        }
    };
    let log = opts.log.as_ref().map(|p| {
        Mutex::new(std::fs::File::create(p).unwrap_or_else(|e| {
            eprintln!("aws-fault-proxy: cannot create log {p}: {e}");
            std::process::exit(1)
        }))
    });
    let shared = Arc::new(Shared {
        rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(opts.seed)),
        opts,
        log,
        start: Instant::now(),
        seq: AtomicU64::new(0),
        recent: Mutex::default(),
    });
    let addr = listener.local_addr().expect("bound address");
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    loop {
        let Ok((conn, peer)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(conn, peer, &shared).await {
                // Clients (SDK connection pools) close idle connections: not worth a line.
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    eprintln!("aws-fault-proxy: {peer}: {e}");
                }
            }
        });
    }
}

/// One request as read from the client.
struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The service from the SigV4 credential scope (`Credential=AKID/date/region/ec2/aws4_request`).
    fn service(&self) -> String {
        self.header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("unknown")
            .to_string()
    }

    /// The operation: the query protocol's `Action=`, else `METHOD /path` (S3's REST calls).
    fn operation(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let line = self.head.first().map(String::as_str).unwrap_or("");
        let query = line
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.split_once('?'))
            .map(|(_, q)| q)
            .unwrap_or("");
        for part in body.split('&').chain(query.split('&')) {
            if let Some(action) = part.strip_prefix("Action=") {
                return action.to_string();
            }
        }
        let mut words = line.split_whitespace();
        let method = words.next().unwrap_or("?");
        let path = words.next().unwrap_or("?");
        format!("{method} {}", path.split('?').next().unwrap_or(path))
    }

    /// The query-protocol parameters, for the log (ids of what a delete deletes).
    fn params(&self) -> Vec<(String, String)> {
        let body = String::from_utf8_lossy(&self.body);
        body.split('&')
            .filter_map(|p| p.split_once('='))
            .filter(|(k, _)| *k != "Action" && *k != "Version")
            .map(|(k, v)| (k.to_string(), percent_decode(v)))
            .collect()
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn read_head<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<String>>> {
    let mut head = Vec::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        total += n;
        if total > MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if head.is_empty() {
                continue; // stray CRLF between requests
            }
            return Ok(Some(head));
        }
        head.push(line);
    }
}

/// A header line's name, lowercased.
fn header_name(line: &str) -> String {
    line.split(':').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn header_of<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads a message body framed by Content-Length or chunked encoding (de-chunked).
async fn read_body<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    head: &[String],
) -> std::io::Result<Vec<u8>> {
    if header_of(head, "transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await?;
            let size = size.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(size, 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if n == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t).await? == 0 || t.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            if body.len() + n > MAX_BODY {
                return Err(std::io::Error::other("body too large"));
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..]).await?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).await?;
        }
    }
    let len: usize = header_of(head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    if len > MAX_BODY {
        return Err(std::io::Error::other("body too large"));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(body)
}

async fn serve(conn: TcpStream, peer: SocketAddr, shared: &Shared) -> std::io::Result<()> {
    let _ = peer;
    let (rd, mut wr) = conn.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let Some(head) = read_head(&mut rd).await? else {
            return Ok(());
        };
        let body = read_body(&mut rd, &head).await?;
        let req = Request { head, body };
        let close = req.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let arrived = shared.start.elapsed();
        let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
        let service = req.service();
        let propagating = shared.propagation_fault(&req, &service);
        let mut fate = if let Some((code, _)) = &propagating {
            Fate::Propagating(code)
        } else {
            let mut rng = shared.rng.lock().unwrap_or_else(|e| e.into_inner());
            let x: f64 = rng.random();
            if x < shared.opts.fault_rate {
                Fate::Refused
            } else if x < shared.opts.fault_rate + shared.opts.lost_response_rate {
                Fate::ResponseLost
            } else {
                Fate::Forwarded
            }
        };
        tokio::time::sleep(shared.opts.latency).await;
        let response = match fate {
            Fate::Refused => refusal(&service, seq),
            Fate::Propagating(code) => {
                let message = propagating.map(|(_, m)| m).unwrap_or_default();
                let body = error_body(&service, code, &message, seq);
                plain(400, "Bad Request", "text/xml", &body)
            }
            Fate::Forwarded | Fate::ResponseLost | Fate::Stricter(_) => {
                match forward(&shared.opts.upstream, &req).await {
                    Ok(r) if fate == Fate::Forwarded => {
                        let ok = r.starts_with(b"HTTP/1.1 200");
                        if let Some((code, message)) =
                            ok.then(|| stricter_answer(&req, &service, &r)).flatten()
                        {
                            fate = Fate::Stricter(code);
                            plain(
                                400,
                                "Bad Request",
                                "text/xml",
                                &error_body(&service, code, &message, seq),
                            )
                        } else {
                            if ok {
                                shared.record(&req, &service, &r);
                            }
                            r
                        }
                    }
                    Ok(_) => internal_error(&service, seq),
                    Err(e) => {
                        eprintln!("aws-fault-proxy: upstream {}: {e}", shared.opts.upstream);
                        plain(502, "Bad Gateway", "text/plain", "upstream unreachable\n")
                    }
                }
            }
        };
        let status = response
            .split(|&b| b == b' ')
            .nth(1)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        wr.write_all(&response).await?;
        wr.flush().await?;
        if let Some(log) = &shared.log {
            let line = serde_json::json!({
                "seq": seq,
                "service": service,
                "operation": req.operation(),
                "params": req.params().into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect::<serde_json::Map<_, _>>(),
                "fate": format!("{fate:?}"),
                "status": status,
                "arrived_ms": arrived.as_secs_f64() * 1000.0,
                "done_ms": shared.start.elapsed().as_secs_f64() * 1000.0,
            });
            let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(f, "{line}");
        }
        if close {
            return Ok(());
        }
    }
}

/// Sends `req` upstream on a fresh connection and returns the whole response, re-framed with
/// Content-Length and `Connection: keep-alive` for our client.
async fn forward(upstream: &str, req: &Request) -> std::io::Result<Vec<u8>> {
    let conn = TcpStream::connect(upstream).await?;
    let (rd, mut wr) = conn.into_split();
    let mut out = Vec::with_capacity(req.body.len() + 1024);
    out.extend_from_slice(req.head[0].as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in &req.head[1..] {
        let name = header_name(h);
        if matches!(
            name.as_str(),
            "connection" | "transfer-encoding" | "content-length" | "keep-alive"
        ) {
            continue;
        }
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n", req.body.len()).as_bytes());
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&req.body);
    wr.write_all(&out).await?;
    wr.flush().await?;
    let mut rd = BufReader::new(rd);
    let head = read_head(&mut rd)
        .await?
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
    let head_request = req.head[0].starts_with("HEAD ");
    let status: u16 = head[0].split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head_request || status == 204 || status == 304 {
        Vec::new()
    } else if header_of(&head, "content-length").is_some()
        || header_of(&head, "transfer-encoding").is_some()
    {
        read_body(&mut rd, &head).await?
    } else {
        let mut b = Vec::new();
        rd.read_to_end(&mut b).await?;
        b
    };
    let mut resp = Vec::with_capacity(body.len() + 512);
    // Answer in HTTP/1.1 whatever the upstream spoke, so the client may keep the connection.
    let status_line = head[0].replacen("HTTP/1.0", "HTTP/1.1", 1);
    resp.extend_from_slice(status_line.as_bytes());
    resp.extend_from_slice(b"\r\n");
    let mut had_length = false;
    for h in &head[1..] {
        let name = header_name(h);
        match name.as_str() {
            "connection" | "transfer-encoding" | "keep-alive" => continue,
            "content-length" if head_request => had_length = true,
            "content-length" => continue,
            _ => {}
        }
        resp.extend_from_slice(h.as_bytes());
        resp.extend_from_slice(b"\r\n");
    }
    if !had_length {
        resp.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    resp.extend_from_slice(b"Connection: keep-alive\r\n\r\n");
    resp.extend_from_slice(&body);
    Ok(resp)
}

fn plain(status: u16, reason: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An error document in the service's format: EC2's `<Response><Errors>`, S3's `<Error>`, and
/// the query protocol's `<ErrorResponse>` (ELBv2, IAM).
fn error_body(service: &str, code: &str, message: &str, seq: u64) -> String {
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    match service {
        "ec2" => format!(
            "{head}<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-{seq}</RequestID></Response>"
        ),
        "s3" => format!(
            "{head}<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-{seq}</RequestId></Error>"
        ),
        _ => format!(
            "{head}<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-{seq}</RequestId></ErrorResponse>"
        ),
    }
}

/// What AWS answers when it sheds load, in each service's error format.
fn refusal(service: &str, seq: u64) -> Vec<u8> {
    // Every other refusal is a bare 503, the shape a load balancer in front of an API gives.
    if seq.is_multiple_of(2) {
        return plain(503, "Service Unavailable", "text/plain", "Service Unavailable\n");
    }
    let (status, reason, code, message) = match service {
        "ec2" => (503, "Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."),
        "s3" => (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
        _ => (400, "Bad Request", "Throttling", "Rate exceeded"),
    };
    plain(status, reason, "text/xml", &error_body(service, code, message, seq))
}

/// A 500 in the service's error format: what a client sees when the answer is lost.
fn internal_error(service: &str, seq: u64) -> Vec<u8> {
    let code = if matches!(service, "ec2" | "s3") { "InternalError" } else { "InternalFailure" };
    let body = error_body(service, code, "An internal error has occurred.", seq);
    plain(500, "Internal Server Error", "text/xml", &body)
}
