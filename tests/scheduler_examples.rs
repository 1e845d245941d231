//! The scheduler examples of `docs/sweeps.md` are files, and they work.
//!
//! - The docs include `scripts/slurm/sweep.sbatch` and
//!   `scripts/k8s/sweep-job.yaml` verbatim.
//! - The Kubernetes Job validates, strictly, against the `batch/v1` Job
//!   schema (`python3 -m kubernetes_validate`, offline schemas; `pip install
//!   kubernetes-validate`), and a misspelt field fails it.
//! - The Slurm job array runs on a single-node Slurm started here (as root:
//!   `munged`, `slurmctld`, `slurmd` on a private configuration and ports),
//!   4 array tasks of a 16-point spec; `locus sweep merge` of the shards
//!   equals the unsharded run byte for byte. Then one task is cancelled with
//!   `scancel` part-way and resubmitted alone: it resumes (earlier lines
//!   untouched) and the merge is still exact.
//!
//! Without the tools, or not as root, the tests print why and skip, except
//! when the environment variable `CI` is set: then they fail.

use locus::data::{SyntheticSpec, generate, write_split};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Whether `tool` is on PATH; when it is not, panics under CI and otherwise
/// prints why the test is skipped. (Slurm's clients cannot even print their
/// version without a configuration, so presence is what is checked.)
fn have(tool: &str, install: &str) -> bool {
    have_command(tool, &["sh", "-c", &format!("command -v {tool}")], install)
}

/// Whether `argv` runs and succeeds (see [`have`]).
fn have_command(tool: &str, argv: &[&str], install: &str) -> bool {
    let ok = Command::new(argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} not found on PATH, and CI is set: install it ({install})");
        }
        eprintln!("skipped: {tool} not found (install it: {install})");
    }
    ok
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn the_docs_show_the_scheduler_files_verbatim() {
    let docs = read("docs/sweeps.md");
    for (file, fence) in [
        ("scripts/slurm/sweep.sbatch", "```sh\n"),
        ("scripts/k8s/sweep-job.yaml", "```yaml\n"),
    ] {
        let text = read(file);
        let block = format!("{fence}{text}```\n");
        assert!(
            docs.contains(&block),
            "docs/sweeps.md does not include {file} verbatim in a {} block",
            fence.trim()
        );
    }
}

#[test]
fn the_kubernetes_job_is_a_valid_batch_v1_job() {
    let validator = ["python3", "-m", "kubernetes_validate"];
    let probe = [&validator[..], &["--version"]].concat();
    if !have_command(
        "kubernetes-validate",
        &probe,
        "pip install kubernetes-validate",
    ) {
        return;
    }
    let validate = |path: &Path| {
        Command::new(validator[0])
            .args(&validator[1..])
            .args(["--kubernetes-version", "1.30.0", "--strict"])
            .arg(path)
            .output()
            .expect("kubernetes-validate runs")
    };
    let job = root().join("scripts/k8s/sweep-job.yaml");
    let out = validate(&job);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check is real: a misspelt field and a missing required one fail.
    let tmp = tempfile::tempdir().unwrap();
    let text = read("scripts/k8s/sweep-job.yaml");
    for (from, to) in [
        ("completionMode", "completionMod"),
        ("mountPath", "mountpath"),
    ] {
        assert!(text.contains(from));
        let bad = tmp.path().join("bad.yaml");
        std::fs::write(&bad, text.replacen(from, to, 1)).unwrap();
        let out = validate(&bad);
        assert!(!out.status.success(), "{to} passed validation");
    }
}

/// A single-node Slurm on a private configuration, stopped on drop.
struct Slurm {
    conf: PathBuf,
    daemons: Vec<Child>,
}

impl Slurm {
    /// Starts `munged` (if no munge socket answers), `slurmctld` and
    /// `slurmd` for this host with `cpus` CPUs, state under `dir`.
    fn start(dir: &Path, cpus: usize) -> Slurm {
        ensure_munged();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| {
                h.trim()
                    .split('.')
                    .next()
                    .unwrap_or("localhost")
                    .to_string()
            })
            .unwrap_or_else(|_| "localhost".into());
        let d = dir.display();
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let conf = dir.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=locus-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"
            ),
        )
        .unwrap();
        let mut slurm = Slurm {
            conf,
            daemons: Vec::new(),
        };
        for daemon in ["slurmctld", "slurmd"] {
            // -D: stay in the foreground, so that drop can stop it.
            let child = Command::new(daemon)
                .args(["-D", "-f"])
                .arg(&slurm.conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{daemon}: {e}"));
            slurm.daemons.push(child);
        }
        // Wait until the node is idle.
        let t0 = Instant::now();
        loop {
            let out = slurm.run("sinfo", &["-h", "-o", "%T"]);
            if String::from_utf8_lossy(&out.stdout).trim() == "idle" {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the Slurm node did not come up: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(dir.join("log/slurmd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        slurm
    }

    /// Runs a Slurm client command against this configuration.
    fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        self.command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    /// Waits (at most `limit`) until job `id` (or one task `id_k`) has left
    /// the queue.
    fn wait(&self, id: &str, limit: Duration) {
        let t0 = Instant::now();
        loop {
            let out = self.run("squeue", &["-h", "-j", id]);
            if out.status.success() && out.stdout.is_empty() {
                return;
            }
            assert!(
                t0.elapsed() < limit,
                "job {id} still queued after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Slurm {
    /// `scontrol shutdown` (the daemons stop their children and exit), then
    /// a kill for any daemon still running after 10 s.
    fn drop(&mut self) {
        let _ = self
            .command("scontrol")
            .arg("shutdown")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t0 = Instant::now();
        for c in &mut self.daemons {
            while matches!(c.try_wait(), Ok(None)) && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `munged` as the `munge` user unless a munge socket already answers.
fn ensure_munged() {
    let answers = || {
        Command::new("sh")
            .args(["-c", "munge -n | unmunge"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if answers() {
        return;
    }
    std::fs::create_dir_all("/run/munge").unwrap();
    let ok = Command::new("chown")
        .args(["munge:munge", "/run/munge"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "chown munge:munge /run/munge failed (is munge installed?)"
    );
    let ok = Command::new("runuser")
        .args(["-u", "munge", "--", "munged"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "munged did not start (is /etc/munge/munge.key there?)");
    let t0 = Instant::now();
    while !answers() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "munged does not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Synthetic data and a 16-point spec (rule × weight width × 4 seeds) whose
/// points take long enough (about half a second each) to cancel a task
/// part-way.
fn sweep_dir(dir: &Path) {
    let (train, test) = generate(&SyntheticSpec {
        classes: 4,
        sample_len: 64,
        train: 3000,
        test: 200,
        noise: 40,
        seed: 3,
    })
    .unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_split(&data, "train", &train, false).unwrap();
    write_split(&data, "t10k", &test, false).unwrap();
    std::fs::copy(
        root().join("hw_models/default.json"),
        dir.join("model.json"),
    )
    .unwrap();
    let spec = json!({
        "name": "slurm",
        "base": {
            "model": "model.json", "data": "data", "rule": "local", "layers": [64, 96, 4],
            "activation": "relu", "epochs": 1, "batch": 1, "lr": 0.0625, "seed": 1,
            "arith": "fixed", "train_limit": null, "test_limit": null
        },
        "axes": [
            {"path": "config.rule", "values": ["local", "bp/spill"]},
            {"path": "model.formats.weight", "values": [{"bits": 8, "frac": 6}, {"bits": 16, "frac": 14}]},
            {"path": "config.seed", "values": [1, 2, 3, 4]}
        ]
    });
    std::fs::write(
        dir.join("spec.json"),
        serde_json::to_string_pretty(&spec).unwrap(),
    )
    .unwrap();
}

fn locus(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_locus"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "locus {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Lines of a results file (each with its newline).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_inclusive('\n')
        .map(String::from)
        .collect()
}

/// The unsharded results sorted by point index: what a merge must equal.
fn by_index(path: &Path) -> String {
    let mut ls: Vec<(u64, String)> = lines(path)
        .into_iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            (v["index"].as_u64().unwrap(), l)
        })
        .collect();
    ls.sort();
    ls.into_iter().map(|(_, l)| l).collect()
}

const SHARDS: usize = 4;

#[test]
fn the_slurm_job_array_merges_to_the_unsharded_run_byte_for_byte() {
    if !is_root() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the Slurm test needs root (it starts munged, slurmctld and slurmd), and CI is set"
            );
        }
        eprintln!("skipped: the Slurm test needs root (it starts munged, slurmctld and slurmd)");
        return;
    }
    let install = "apt-get install -y slurm-wlm munge";
    if !have("sbatch", install) || !have("munged", install) {
        return;
    }
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sweep_dir(dir);
    locus(
        dir,
        &[
            "sweep",
            "--spec",
            "spec.json",
            "--threads",
            "2",
            "--results",
            "one.jsonl",
        ],
    );
    let reference = by_index(&dir.join("one.jsonl"));
    assert_eq!(reference.lines().count(), 16);

    let slurm = Slurm::start(&dir.join("slurm"), 2);
    let script = root().join("scripts/slurm/sweep.sbatch");
    let submit = |array: &str, prefix: &str| -> String {
        let out = slurm
            .command("sbatch")
            .current_dir(dir)
            .args(["--parsable", "--cpus-per-task=1"])
            .arg(format!("--array={array}"))
            .arg(format!("--output={}/slurm/log/%A_%a.out", dir.display()))
            .arg(format!(
                "--export=ALL,SHARDS={SHARDS},SPEC=spec.json,RESULTS={prefix},LOCUS={}",
                env!("CARGO_BIN_EXE_locus")
            ))
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sbatch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    };
    let shard_files = |prefix: &str| -> Vec<String> {
        (0..SHARDS).map(|i| format!("{prefix}-{i}.jsonl")).collect()
    };
    let merge = |prefix: &str, out: &str| -> String {
        let mut args = vec!["sweep", "merge", "--spec", "spec.json", "--out", out];
        let files = shard_files(prefix);
        args.extend(files.iter().map(String::as_str));
        locus(dir, &args);
        std::fs::read_to_string(dir.join(out)).unwrap()
    };
    let limit = Duration::from_secs(120);

    // The whole array.
    let job = submit(&format!("0-{}", SHARDS - 1), "a/bits");
    slurm.wait(&job, limit);
    for f in shard_files("a/bits") {
        assert_eq!(lines(&dir.join(&f)).len(), 16 / SHARDS, "{f}");
    }
    assert_eq!(
        merge("a/bits", "a.jsonl"),
        reference,
        "merged shards vs unsharded run"
    );

    // Cancel task 2 once it has finished one point, then resubmit it alone.
    let job = submit(&format!("0-{}", SHARDS - 1), "b/bits");
    let victim = dir.join("b/bits-2.jsonl");
    let waited = Instant::now();
    while !lines(&victim).iter().any(|l| l.ends_with('\n')) {
        assert!(waited.elapsed() < limit, "task 2 wrote no line");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = slurm.run("scancel", &[&format!("{job}_2")]);
    assert!(
        out.status.success(),
        "scancel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    slurm.wait(&job, limit);
    let before = lines(&victim);
    let finished: Vec<String> = before
        .iter()
        .filter(|l| l.ends_with('\n'))
        .cloned()
        .collect();
    assert!(
        finished.len() < 16 / SHARDS,
        "task 2 finished before it was cancelled ({} lines): not a part-way cancel",
        finished.len()
    );
    let again = submit("2", "b/bits");
    slurm.wait(&again, limit);
    let after = lines(&victim);
    assert_eq!(after.len(), 16 / SHARDS);
    assert_eq!(
        after[..finished.len()],
        finished[..],
        "the resumed task rewrote earlier lines"
    );
    let log = std::fs::read_to_string(dir.join(format!("slurm/log/{again}_2.out"))).unwrap();
    assert!(
        log.contains(&format!("{} already done", finished.len())),
        "resumed task's log: {log}"
    );
    assert_eq!(
        merge("b/bits", "b.jsonl"),
        reference,
        "merge after scancel and resume"
    );
    drop(slurm);
    eprintln!("Slurm test took {:.1} s", t0.elapsed().as_secs_f64());
}
