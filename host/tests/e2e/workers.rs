//! Eight workers on one machine, as a scheduler would run them on eight: 24
//! API streams dealt among the shards and a file export sliced eight ways (32
//! units of work), all appending to Delta tables in one sink. Random workers are
//! SIGKILLed at random moments and restarted (some with an empty state folder,
//! as a rescheduled pod), and a zombie twin of one shard runs beside it. At the
//! end every source row is in its table exactly once, as the `deltalake`
//! package reads it (three of the API streams merge by key, the rest append),
//! and each stream's committed watermark is its rows' highest.
//! (Its size fits `just test` on two cores; `just bench` has the scaling figures.)

use super::lake::delta_read;
use headwater_mock::{MockApi, orders};
use headwater_testkit::Env;
use std::process::Child;
use std::time::{Duration, Instant};

const SHARDS: u32 = 8;
const API_STREAMS: usize = 24;
const ORDERS: i64 = 600;
const EXPORT_FILES: u64 = 48;
const EXPORT_ROWS: u64 = 40;

fn pipeline(api: &MockApi, state: &str) -> String {
    let mut streams = String::new();
    for s in 0..API_STREAMS {
        streams.push_str(&format!(
            r#"
[[source.config.streams]]
name = "api{s:02}"
path = "/orders"
records = "/data"
primary_key = ["id"]
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
incremental = {{ cursor_field = "updated_at", cursor_param = "updated_since" }}
schema = [
  {{ name = "id", type = "int64", nullable = false }},
  {{ name = "customer", type = "string" }},
  {{ name = "amount", type = "float64" }},
  {{ name = "updated_at", type = "string" }},
]
"#
        ));
    }
    format!(
        r#"
name = "fleet"
[backfill]
connector = "files"
[backfill.config]
root = "./exports"
glob = "*.csv"
stream = "exports"
primary_key = ["id"]
[source]
connector = "rest"
[source.config]
base_url = "{url}"
{streams}
[allow]
hosts = ["{host}"]
files = ["./exports"]
[sink]
path = "lake"
format = "delta"
[sharding]
slice = ["exports"]
[streams.api00]
write = "merge"
[streams.api09]
write = "merge"
[streams.api17]
write = "merge"
[state]
path = "{state}"
"#,
        url = api.url(),
        host = api.host()
    )
}

/// A small deterministic generator: the seed is in every message, so a failure reruns.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// What is wrong with sorted ids, in a line: how many, how many distinct, the first twice.
fn summary(ids: &[u64]) -> String {
    let twice = ids.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]);
    let mut distinct = ids.to_vec();
    distinct.dedup();
    format!("{} rows, {} distinct, first twice: {twice:?}", ids.len(), distinct.len())
}

fn start(env: &Env, shard: u32, state: &str) -> Child {
    let file = format!("{state}.toml");
    env.spawn(&["run", &file, "--shard", &format!("{shard}/{SHARDS}")])
}

#[test]
fn eight_workers_killed_restarted_and_a_zombie_land_every_row_once() {
    let seed = 0x2545_f491_4f6c_dd1d_u64;
    let env = crate::env();
    env.install("rest");
    env.install("files");
    let api = MockApi::start(orders(1..=ORDERS), 50);
    for f in 0..EXPORT_FILES {
        let mut text = String::from("id,note\n");
        for r in 0..EXPORT_ROWS {
            text.push_str(&format!("{},n{r}\n", f * EXPORT_ROWS + r));
        }
        env.write(&format!("exports/e{f:03}.csv"), text);
    }
    // Each worker and each restart has a state folder of its own, as pods on
    // different machines would: what they share is the sink's tables.
    let mut generation = vec![0u32; SHARDS as usize + 1];
    let state = |shard: u32, generation: u32| format!("w{shard}-g{generation}");
    let write = |name: &str| env.write(&format!("{name}.toml"), pipeline(&api, name));
    for shard in 1..=SHARDS {
        write(&state(shard, 0));
    }
    write("zombie");

    let mut rng = Rng(seed);
    let mut workers: Vec<(u32, Child)> = (1..=SHARDS).map(|s| (s, start(&env, s, &state(s, 0)))).collect();
    let zombie = start(&env, 3, "zombie");
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    // Kill a random running worker every few hundred milliseconds, and restart it:
    // with its own state folder, or (every other time) an empty one, as a new pod.
    while kills < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100 + rng.below(300)));
        let running: Vec<usize> = (0..workers.len()).filter(|&i| workers[i].1.try_wait().unwrap().is_none()).collect();
        if running.is_empty() {
            break;
        }
        let i = running[rng.below(running.len() as u64) as usize];
        let shard = workers[i].0;
        workers[i].1.kill().unwrap();
        workers[i].1.wait().unwrap();
        kills += 1;
        if rng.below(2) == 0 {
            generation[shard as usize] += 1;
            write(&state(shard, generation[shard as usize]));
        }
        workers[i].1 = start(&env, shard, &state(shard, generation[shard as usize]));
    }
    for (shard, mut child) in workers {
        let status = child.wait().unwrap();
        // Shard 3 has a zombie twin: whichever of the two loses a race for a commit
        // is refused (exit 1) and duplicates nothing; the last pass below finishes it.
        assert!(status.success() || shard == 3, "seed {seed:#x}: shard {shard} failed after {kills} kills");
    }
    let mut zombie = zombie;
    let zombie_status = zombie.wait().unwrap();
    eprintln!("seed {seed:#x}: {kills} kills; the zombie of shard 3 ended with {zombie_status}");
    // A last pass of every shard, each a fresh pod: only the zombie's shard may
    // have work left (the commits its refused worker did not make).
    for shard in 1..=SHARDS {
        write("last");
        let run = env.headwater(&["run", "last.toml", "--shard", &format!("{shard}/{SHARDS}"), "--json"]).ok().json();
        let loaded: u64 = run["streams"].as_array().unwrap().iter().map(|s| s["rows"].as_u64().unwrap()).sum();
        assert!(loaded == 0 || shard == 3, "seed {seed:#x}: shard {shard} found work left: {run}");
        std::fs::remove_dir_all(env.path("last")).unwrap();
    }
    assert!(kills >= 3, "seed {seed:#x}: only {kills} kills landed while workers ran");

    let expected: Vec<u64> = (1..=ORDERS as u64).collect();
    for s in 0..API_STREAMS {
        let table = delta_read(&env, &format!("lake/api{s:02}"), &[]);
        let ids: Vec<u64> = table["rows"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect();
        assert!(ids == expected, "seed {seed:#x}: stream api{s:02} after {kills} kills: {}", summary(&ids));
    }
    let exports = delta_read(&env, "lake/exports", &[]);
    let ids: Vec<u64> = exports["rows"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(
        ids == (0..EXPORT_FILES * EXPORT_ROWS).collect::<Vec<_>>(),
        "seed {seed:#x}: the sliced export: {}",
        summary(&ids)
    );

    // What the tables' commits say agrees with their rows: each API stream's watermark is
    // the highest `updated_at` served, and the slices' row counts add up to the export.
    let status = env.headwater(&["status", "last.toml", "--json"]).ok().json();
    let highest = orders(1..=ORDERS).iter().map(|o| o["updated_at"].as_str().unwrap().to_string()).max().unwrap();
    let mut slice_rows = 0;
    for entry in status.as_array().unwrap() {
        let (stream, transaction) = (entry["stream"].as_str().unwrap(), entry["transaction"].as_str().unwrap());
        if stream == "exports" {
            assert!(transaction.contains("/exports/slice-"), "{entry}");
            slice_rows += entry["rows"].as_u64().unwrap();
        } else {
            assert_eq!(entry["rows"].as_u64(), Some(ORDERS as u64), "{entry}");
            assert_eq!(entry["watermark"].as_str(), Some(highest.as_str()), "{entry}");
        }
    }
    assert_eq!(slice_rows, EXPORT_FILES * EXPORT_ROWS, "{status}");
}
