//! The command line: [`args`] holds the clap definitions; here they become the library's
//! configs, each command makes one call into [`crate::pipeline`] (or [`crate::sweep`],
//! [`crate::bench`], [`crate::report::table`]), and prints the short human summary it
//! returns on stdout. Nothing else in the library sees clap; JSON goes to files.

pub mod args;

pub use args::*;

use anyhow::Context;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::bench::BenchConfig;
use crate::coords::TaskConfig;
use crate::dataset::preview::SheetConfig;
use crate::dataset::suite::SuiteDatasetConfig;
use crate::dataset::DatasetConfig;
use crate::evaluate::pictures::Layout;
use crate::evaluate::EvalConfig;
use crate::integrate::Method;
use crate::pipeline::{self, DemoConfig, Observer, TrainEvent, TrainRequest};
use crate::runtime::{self, Runtime};
use crate::sweep::executor::{self, Executor};
use crate::sweep::plan::SlurmSettings;
use crate::systems::parse_param;
use crate::systems::suite::Suite;
use crate::training::{Models, Seeds, TrainOverrides};
use crate::util::choice::Choice;
use crate::util::progress;

impl GenerateArgs {
    pub fn to_config(&self) -> crate::Result<DatasetConfig> {
        let mut d = DatasetConfig::for_system(self.system);
        for text in &self.params {
            let (name, value) = parse_param(text)?;
            d.set_param(&name, value)?;
        }
        if let Some(v) = self.thdot_max {
            d.set_param("thdot_max", v)
                .map_err(|_| crate::Error::setting("--thdot-max", "is the pendulum's; this system has no initial speed range"))?;
        }
        let (lo, hi) = d.sys().window();
        d.system.set_window((self.min.unwrap_or(lo), self.max.unwrap_or(hi)));
        d.seed = self.seed;
        d.trials = self.trials.unwrap_or(d.trials);
        d.steps = self.steps.unwrap_or(d.steps);
        d.test_fraction = self.test_fraction;
        d.render.side = self.side;
        d.render.supersample = self.supersample;
        if let Some(w) = self.window {
            d.render.window = w;
        }
        Ok(d)
    }

    /// `--out`, or the system's (the preset's) default path.
    pub fn out(&self) -> PathBuf {
        if let (None, Ok(Some(cfg))) = (&self.out, self.to_suite_config()) {
            return crate::dataset::suite::default_path(&cfg.suite);
        }
        self.out.clone().unwrap_or_else(|| crate::dataset::default_path(self.system))
    }

    /// `--preset` and its flags, or `None` without `--preset`.
    pub fn to_suite_config(&self) -> crate::Result<Option<SuiteDatasetConfig>> {
        let Some(system) = self.preset else { return Ok(None) };
        let d = SuiteDatasetConfig::default();
        let cfg = SuiteDatasetConfig {
            suite: Suite { system, colors: self.colors, friction: self.friction.unwrap_or(0.0) },
            seed: self.seed,
            trials: self.trials.unwrap_or(d.trials),
            test_trials: self.test_trials.unwrap_or(d.test_trials),
            steps: self.steps.unwrap_or(d.steps),
        };
        cfg.validate()?;
        Ok(Some(cfg))
    }
}

impl PreviewArgs {
    pub fn to_config(&self) -> SheetConfig {
        SheetConfig { trials: self.trials, frames: self.frames, stride: self.stride, scale: self.scale }
    }
}

impl TrainArgs {
    pub fn to_request(&self) -> crate::Result<TrainRequest> {
        let models = self.model.as_deref().map(Models::parse).transpose()?;
        let seeds = match (&self.seeds, self.seed) {
            (Some(text), _) => Some(Seeds::parse(text)?),
            (None, seed) => seed.map(|s| vec![s]),
        };
        Ok(TrainRequest {
            out: self.out.clone(),
            data: self.data.clone(),
            base: None,
            overrides: TrainOverrides { models, seeds, ..self.train.clone() },
            resume: self.resume,
            force: self.force,
        })
    }
}

impl ProtocolArgs {
    pub fn to_config(&self) -> EvalConfig {
        let method = match self.integrator {
            IntegratorArg::Rk45 => Method::Rk45 { rtol: self.rtol, atol: self.atol },
            IntegratorArg::Rk4 => Method::Rk4 { dt: self.dt },
            IntegratorArg::Midpoint => Method::ImplicitMidpoint { dt: self.dt },
        };
        EvalConfig {
            seed: self.seed,
            steps: self.steps,
            window_min: self.min,
            window_max: self.max,
            frames: self.frames,
            method,
            seeds: self.seeds.clone(),
            map_fit: self.map_fit,
            ..EvalConfig::default()
        }
    }
}

impl CoordsArgs {
    pub fn to_config(&self) -> TaskConfig {
        let mut cfg = TaskConfig::reference(self.task);
        cfg.data = self.data.clone();
        cfg.seed = self.seed.unwrap_or(cfg.seed);
        cfg.steps = self.steps.unwrap_or(cfg.steps);
        cfg.trajectories = self.trajectories.unwrap_or(cfg.trajectories);
        cfg
    }
}

impl BenchArgs {
    pub fn to_config(&self) -> BenchConfig {
        BenchConfig {
            frames: self.frames,
            quick: self.quick,
            train_steps: self.train_steps,
            peer: self.peer.clone(),
            python: self.python.clone(),
            run: self.run.clone(),
            real_data: self.real_data.clone(),
            skip_coords: self.skip_coords,
            gpu: self.gpu,
            peer_cuda: self.peer_cuda.clone(),
            peer_rollout: self.peer_rollout.clone(),
            rollout_only: self.rollout,
        }
    }
}

impl SweepRunArgs {
    pub fn to_executor(&self) -> Executor {
        match self.executor {
            ExecutorArg::Local => Executor::Local(executor::Local { jobs: self.jobs, threads: self.threads }),
            ExecutorArg::Slurm => Executor::Slurm(executor::Slurm {
                settings: SlurmSettings {
                    partition: self.partition.clone(),
                    account: self.account.clone(),
                    cpus_per_task: self.cpus_per_task,
                    mem: self.mem.clone(),
                    time: self.time.clone(),
                    gpu: self.gpu.then_some(true),
                },
                assume_shared: self.assume_shared,
                wait: self.wait,
            }),
        }
    }
}

/// Progress bars on stderr (hidden off a terminal) and the demo's stage names.
#[derive(Default)]
struct Bars {
    render: Option<indicatif::ProgressBar>,
    train: Mutex<Option<indicatif::ProgressBar>>,
    stages: bool,
    /// Said on stderr when training starts (after every check has passed).
    header: Mutex<Option<String>>,
}

impl Bars {
    fn rendering(trials: usize) -> Self {
        Bars { render: Some(progress::bar(trials as u64, "render")), ..Bars::default() }
    }
}

impl Observer for Bars {
    fn stage(&self, name: &str) {
        if self.stages {
            eprintln!("demo: {name}");
        }
    }
    fn trial_rendered(&self) {
        if let Some(b) = &self.render {
            b.inc(1)
        }
    }
    fn training(&self, e: TrainEvent) {
        let mut bar = self.train.lock().unwrap_or_else(|e| e.into_inner());
        match e {
            TrainEvent::Start { model, from, total } => {
                if let Some(h) = self.header.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    eprintln!("{h}");
                }
                let b = progress::bar(total as u64, model.name());
                b.set_position(from as u64);
                *bar = Some(b);
            }
            TrainEvent::Step { .. } => {
                if let Some(b) = bar.as_ref() {
                    b.inc(1)
                }
            }
            TrainEvent::Done { .. } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear()
                }
            }
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(a) => generate(&a),
        Command::Preview(a) => preview(&a),
        Command::Train(a) => train(&a),
        Command::Evaluate(a) => evaluate(&a),
        Command::Rollout(a) => rollout(&a),
        Command::Demo(a) => demo(&a),
        Command::Coords(a) => coords(&a),
        Command::Score(a) => score(&a),
        Command::Predict(a) => predict(&a),
        Command::Table(a) => table(&a),
        Command::Bench(a) => bench(&a),
        Command::Sweep(c) => sweep(&c),
    }
}

fn sweep(c: &SweepCommand) -> anyhow::Result<()> {
    use crate::sweep::{aggregate, point, status};
    match c {
        SweepCommand::Plan(a) => {
            let m = crate::sweep::plan(&a.plan, &a.out, a.force)?;
            println!("planned {}, into {}", m.describe(), a.out.display());
        }
        SweepCommand::Run(a) => executor::run(&a.dir, &a.to_executor(), &mut |line| println!("{line}"))?,
        SweepCommand::Status(a) => print!("{}", status::markdown(&status::status(&a.dir)?)),
        SweepCommand::Table(a) => match a.format {
            TableFormat::Markdown => {
                print!("{}", aggregate::table_with(&a.dir, a.scores.as_deref())?);
                println!("\nwrote {} and {}", a.dir.join("table.md").display(), a.dir.join("energy-ratio.png").display());
            }
            format => {
                let mut groups = aggregate::collect(&a.dir)?.1;
                if let Some(s) = &a.scores {
                    aggregate::add_scores(&mut groups, s).with_context(|| format!("--scores {}", s.display()))?;
                }
                let records = aggregate::records(&groups);
                match format {
                    TableFormat::Csv => print!("{}", crate::report::table::records_csv(&records)),
                    _ => println!("{}", crate::report::table::records_json(&records)),
                }
            }
        },
        SweepCommand::Page(a) => {
            let records = crate::sweep::page::read_csv(&a.csv)?;
            let text = crate::sweep::page::markdown(&records);
            match &a.out {
                None => print!("{text}"),
                Some(out) => {
                    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                    crate::util::output::write_atomic(out, text.as_bytes(), true, "--out")?;
                    let charts = crate::sweep::page::charts(&records, dir)?;
                    println!("wrote {} and {} charts", out.display(), charts.len());
                }
            }
        }
        SweepCommand::Point(a) => {
            let st = point::run_point(&a.dir, a.index, point::PointRuntime { threads: a.threads, device: a.device })?;
            match st.state {
                point::State::Failed => anyhow::bail!("{}", st.error.unwrap_or_default()),
                s => println!("point {}: {:?} in {:.0} s", a.index, s, st.seconds.unwrap_or(0.0)),
            }
        }
    }
    Ok(())
}

fn generate(a: &GenerateArgs) -> anyhow::Result<()> {
    if let Some(cfg) = a.to_suite_config()? {
        return generate_suite(a, &cfg);
    }
    let config = a.to_config()?;
    config.validate()?;
    let threads = runtime::threads(a.threads)?;
    let bars = Bars::rendering(config.trials);
    let out = a.out();
    pipeline::generate(&config, &out, a.force, threads, &bars)?;
    if let Some(b) = &bars.render {
        b.finish_and_clear();
    }
    println!(
        "wrote {}: {}, {} trials x {} frames of {}x{} ({} test trials, {} samples)",
        out.display(),
        a.system.name(),
        config.trials,
        config.steps,
        config.render.side,
        config.render.side,
        config.test_trials(),
        config.trials * config.samples_per_trial()
    );
    Ok(())
}

fn generate_suite(a: &GenerateArgs, cfg: &SuiteDatasetConfig) -> anyhow::Result<()> {
    let threads = runtime::threads(a.threads)?;
    let bars = Bars::rendering(cfg.trials);
    let out = a.out();
    crate::dataset::suite::generate_suite(cfg, &out, a.force, threads, &|| bars.trial_rendered())?;
    if let Some(b) = &bars.render {
        b.finish_and_clear();
    }
    let s = &cfg.suite;
    let variant = match (s.colors, s.friction > 0.0) {
        (false, _) => String::new(),
        (true, false) => " with colours".into(),
        (true, true) => format!(" with colours and friction {}", s.friction),
    };
    println!(
        "wrote {}: {}{variant}, {} trajectories x {} frames of 32x32 RGB ({} test trajectories)",
        out.display(),
        s.system.name(),
        cfg.trials,
        cfg.steps,
        cfg.test_trials
    );
    Ok(())
}

fn preview(a: &PreviewArgs) -> anyhow::Result<()> {
    let (w, h) = pipeline::preview(&a.data, &a.out, a.force, &a.to_config())?;
    println!("wrote {} ({w}x{h} px)", a.out.display());
    Ok(())
}

fn train(a: &TrainArgs) -> anyhow::Result<()> {
    let req = a.to_request()?;
    let rt = Runtime::new(a.device, a.threads, a.cuda_graphs)?;
    let bars = Bars { header: Mutex::new(Some(format!("training on {} into {}", rt.describe()?, a.out.display()))), ..Bars::default() };
    let trained = pipeline::train(&req, &rt, &bars)?;
    print!("{}", trained.markdown());
    println!("run folder: {}", a.out.display());
    Ok(())
}

fn evaluate(a: &EvaluateArgs) -> anyhow::Result<()> {
    let cfg = a.protocol.to_config();
    let dev = runtime::resolve(a.device)?;
    let metrics = pipeline::evaluate(&a.run, &cfg, dev)?;
    print!("{}", crate::report::run_tables::pixel_markdown(&metrics));
    println!("wrote {}", a.run.join(crate::run::METRICS).display());
    Ok(())
}

fn rollout(a: &RolloutArgs) -> anyhow::Result<()> {
    let cfg = a.protocol.to_config();
    let dev = runtime::resolve(a.device)?;
    let layout = Layout { scale: a.scale, every: a.every };
    print!("{}", pipeline::pictures(&a.run, &cfg, layout, a.out.as_deref(), dev, a.as_trained)?.describe());
    Ok(())
}

fn demo(a: &DemoArgs) -> anyhow::Result<()> {
    let mut cfg = DemoConfig::new(a.system, a.out.clone(), a.data.clone(), a.quick);
    if let Some(seeds) = &a.seeds {
        cfg.train.seeds = Some(Seeds::parse(seeds)?);
    }
    let rt = Runtime::new(a.device, None, a.cuda_graphs)?;
    let bars = Bars { stages: true, ..Bars::default() };
    let outcome = pipeline::demo(&cfg, &rt, &bars)?;
    print!("{}", crate::report::run_tables::pixel_markdown(&outcome.metrics));
    let total: f64 = outcome.timings.iter().map(|t| t.1).sum();
    println!("demo: {:.0} s; report {}", total, outcome.report.display());
    Ok(())
}

fn coords(a: &CoordsArgs) -> anyhow::Result<()> {
    let cfg = a.to_config();
    cfg.validate()?;
    let threads = runtime::threads(a.threads)?;
    let t = std::time::Instant::now();
    let metrics = pipeline::coords(&cfg, &a.out, a.force, threads)?;
    let row = crate::report::table::Row::of_coords(&metrics, &a.out);
    println!("{}", crate::report::table::HEADER);
    println!("{}", row.markdown());
    println!("wrote {} in {:.1} s", a.out.display(), t.elapsed().as_secs_f64());
    Ok(())
}

fn table(a: &TableArgs) -> anyhow::Result<()> {
    use crate::report::table;
    let runs = table::collect_runs(&a.runs).with_context(|| format!("--runs {}", a.runs.display()))?;
    if runs.rows.is_empty() && runs.records.is_empty() {
        anyhow::bail!(
            "--runs {}: no evaluated runs found (run `pixel-hnn evaluate`, `pixel-hnn coords` or `pixel-hnn score --out`)",
            a.runs.display()
        );
    }
    match a.format {
        TableFormat::Markdown => print!("{}", table::markdown(&runs)),
        TableFormat::Csv => print!("{}", table::records_csv(&runs.records)),
        TableFormat::Json => println!("{}", table::records_json(&runs.records)),
    }
    Ok(())
}

fn score(a: &ScoreArgs) -> anyhow::Result<()> {
    let opts = pipeline::ScoreOptions { window: a.vpt_window, backward: a.vpt_backward };
    let scored = pipeline::score(&a.data, &a.predictions, a.out.as_deref(), a.force, opts)?;
    print!("{}", crate::report::run_tables::score_markdown(&scored.metrics));
    if let Some(out) = &scored.out {
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn predict(a: &PredictArgs) -> anyhow::Result<()> {
    let dev = runtime::resolve(a.device)?;
    let p = pipeline::predict(&a.run, a.model, a.seed, &a.out, a.force, dev)?;
    println!(
        "wrote {}: {} predictions of {} test trials x {} frames (frames {} .. {}, given frames 0 .. {})",
        a.out.display(),
        p.model.as_deref().unwrap_or("?"),
        p.trials,
        p.predicted,
        p.context,
        p.context + p.predicted - 1,
        p.context - 1
    );
    Ok(())
}

fn bench(a: &BenchArgs) -> anyhow::Result<()> {
    crate::bench::run(&a.to_config(), &mut |line| println!("{line}"))?;
    Ok(())
}
