//! Stage 3b, pictures of the learned dynamics: the latent rollout of a fresh trajectory
//! decoded to frames, beside the ground truth (SPEC.md section 7). Writes into one folder,
//! built under a temporary name and renamed into place when complete:
//!
//! | file | what |
//! |---|---|
//! | `frames/{truth,hnn,baseline}/NNNN.png` | every frame, scaled up |
//! | `comparison.gif` | ground truth, HNN, baseline side by side, labelled, real time, sped up to 10 frames a second where frames are further apart (two-body) |
//! | `sheet.png` | every k-th frame, one labelled row each |
//! | `energy.png` | energy over time: true, HNN, baseline (re-encoded, mapped to (q, p)); the title says where the map does not hold, a note which model runs off the truth's scale (clipped there) |
//! | `phase-space.png` | 2-D latents only: a learned energy (HNN's H, HGN's H, LGN's E) over the latent plane (bands are level sets), training latents on top |
//! | `rollout.json` | [`RolloutSummary`]: the trajectory's settings and each model's energy MSE, pixel MSE, VPT, learned-H variation |

use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor};

use crate::dataset::preview::{colour, Sheet};
use crate::dataset::{Pairs, PixelDataset, FIRST_SAMPLE_FRAME};
use crate::error::{Error, Result};
use crate::evaluate::{EvalConfig, LatentMap, Rollout, Scorer, Trajectory};
use crate::model::{FieldKind, Model};
use crate::util::choice::Choice;
use crate::util::output::write_png;
use crate::util::plot;

/// Pictures' layout; `Default`: frames x4, every 10th frame on the sheet.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub scale: u32,
    pub every: usize,
}

impl Default for Layout {
    fn default() -> Self {
        Layout { scale: 4, every: 10 }
    }
}

impl Layout {
    pub fn validate(&self) -> Result<()> {
        if !(1..=16).contains(&self.scale) {
            return Err(Error::setting("--scale", format!("must be between 1 and 16 (got {})", self.scale)));
        }
        if self.every == 0 {
            return Err(Error::setting("--every", "must be at least 1"));
        }
        Ok(())
    }
}

/// What one model's rollout scored (also in `rollout.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRollout {
    pub model: FieldKind,
    /// The member's seed.
    #[serde(default)]
    pub seed: u64,
    pub energy_mse: f64,
    pub energy_mse_pm: f64,
    pub pixel_mse: f64,
    pub valid_prediction_time: usize,
    /// The HNN's learned H along its rollout ([`crate::evaluate::TrajectoryScore`]).
    #[serde(default)]
    pub learned_h_variation: Option<f64>,
    /// Whether the latent -> (q, p) map holds, so that `energy_mse` means something.
    #[serde(default = "yes")]
    pub map_holds: bool,
}

fn yes() -> bool {
    true
}

/// `rollout/rollout.json`: the trajectory's settings and what each model scored on it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RolloutSummary {
    pub protocol: EvalConfig,
    pub layout: Layout,
    pub frames: usize,
    pub models: Vec<ModelRollout>,
    /// The files and folders written, in the order a person reads them (not stored).
    #[serde(skip)]
    pub files: Vec<&'static str>,
}

/// A trained model (one member) with the latent map its energies are read through.
pub struct Mapped<'a> {
    pub seed: u64,
    pub model: &'a Model,
    pub map: &'a LatentMap,
    /// Roll it out with the step it was trained with (protocol a); `None`: the paper's
    /// protocol (`cfg.method`).
    pub as_trained: Option<crate::integrate::Integrator>,
}

/// Points `(frame, value)` of a line.
type Curve = Vec<(f64, f64)>;

struct Panel {
    name: String,
    /// `[n][side * side]`
    frames: Vec<Vec<f32>>,
}

/// A frame scaled up, as RGB: a grey frame's shade on every channel (written back as grey:
/// [`Sheet::of`]), an RGB frame (channel-major) in its colours.
fn scaled(frame: &[f32], side: u32, scale: u32, channels: usize) -> RgbImage {
    let w = side * scale;
    RgbImage::from_fn(w, w, |x, y| image::Rgb(colour(frame, side, channels, x / scale, y / scale)))
}

/// Rolls each model out from the `cfg.seed` trajectory and writes the pictures into `out`
/// (replaced if it exists); `train` are the dataset's training pairs (for the phase-space
/// plot's latents). With several members of a model (an ensemble), the frames and the phase
/// space are the first member's, and the energy plot shows every member: the median and the
/// range.
pub fn write_rollout(
    data: &PixelDataset,
    train: &Pairs,
    models: &[Mapped],
    cfg: &EvalConfig,
    layout: Layout,
    out: &Path,
) -> Result<RolloutSummary> {
    layout.validate()?;
    let side = data.config.render.side;
    let channels = data.config.sys().channels();
    let context = models.first().map_or(2, |m| m.model.config.arch.context);
    let traj = Trajectory::for_eval(data, cfg, cfg.seed, context)?;
    let n = cfg.frames;
    let mut panels = vec![Panel { name: "truth".into(), frames: (0..n).map(|i| traj.frame(FIRST_SAMPLE_FRAME + i).to_vec()).collect() }];
    let mut energy = vec![plot::Series::line("true", (0..n).map(|i| (i as f64, traj.energy(i))).collect())];
    let mut scores = vec![];
    let mut phase = None;
    let mut unmapped = vec![];
    // Each model's energy curves, one per member.
    let mut curves: Vec<(FieldKind, Vec<Curve>)> = vec![];
    for Mapped { seed, model, map, as_trained } in models {
        let kind = model.field.kind();
        let roll = match as_trained {
            Some(integrator) => Rollout::step(model, &traj.observation(0, context), n, *integrator, 1.0)?.0,
            None => Rollout::integrate(model, &traj.observation(0, context), n, cfg.method)?,
        };
        let s = Scorer::new(model, &data.config, map, train, cfg, None).score(&traj, &roll, cfg.seed);
        let first = !curves.iter().any(|(k, _)| *k == kind);
        if first {
            let px = traj.pixels;
            let decoded: Vec<f32> = Vec::try_from(roll.decoded.view([-1]))?;
            let step = model.config.arch.drawn_frames() * px;
            let frames = (0..n).map(|i| decoded[i * step..i * step + px].iter().map(|v| v.clamp(0.0, 1.0)).collect()).collect();
            panels.push(Panel { name: kind.name().into(), frames });
            curves.push((kind, vec![]));
            if !map.holds() {
                unmapped.push(format!("{} R^2 {:.2}", kind.name(), map.worst_r2()));
            }
            if kind.dynamics().learns_energy() && model.config.latent_dim == 2 {
                phase = Some(phase_space(model, train).map_err(Error::plot("phase-space.png"))?);
            }
        }
        let curve = s.predicted_energy.iter().enumerate().map(|(i, e)| (i as f64, *e)).collect();
        curves.iter_mut().find(|(k, _)| *k == kind).expect("pushed above").1.push(curve);
        scores.push(ModelRollout {
            model: kind,
            seed: *seed,
            energy_mse: s.energy_mse,
            energy_mse_pm: s.energy_mse_pm,
            pixel_mse: s.pixel_mse,
            valid_prediction_time: s.valid_prediction_time,
            learned_h_variation: s.learned_h_variation,
            map_holds: map.holds(),
        });
    }
    for (kind, lines) in &curves {
        let name =
            if lines.len() > 1 { format!("{} (median, range of {} seeds)", kind.name(), lines.len()) } else { kind.name().to_string() };
        energy.push(plot::Series::spread(name, lines));
    }
    let mut files = vec!["comparison.gif", "sheet.png", "energy.png"];
    if phase.is_some() {
        files.push("phase-space.png"); // 2-D latents of a family that learns H
    }
    files.extend(["frames/", "rollout.json"]);
    let summary = RolloutSummary { protocol: cfg.clone(), layout, frames: n, models: scores, files };

    crate::util::output::write_dir_atomic(out, |tmp| {
        for p in &panels {
            let dir = tmp.join("frames").join(&p.name);
            std::fs::create_dir_all(&dir).map_err(|e| Error::output(out, format!("cannot create {} ({e})", dir.display())))?;
            for (i, f) in p.frames.iter().enumerate() {
                Sheet::of(scaled(f, side, layout.scale, channels), channels).write(&dir.join(format!("{i:04}.png")), true)?;
            }
        }
        // Real time, but at least 10 frames a second (GIF delays are in 1/100 s).
        let delay = ((data.config.sys().dt() * 100.0).round() as u16).clamp(2, 10);
        write_gif(&panels, (side, channels), layout.scale, delay, &tmp.join("comparison.gif"))?;
        write_sheet(&panels, (side, channels), layout, &tmp.join("sheet.png"))?;
        let title = if unmapped.is_empty() {
            format!("Energy along the rollout (seed {}, latents mapped to (q, p))", cfg.seed)
        } else {
            format!("Energy along the rollout (seed {}): no latent -> (q, p) map holds ({})", cfg.seed, unmapped.join(", "))
        };
        let y_label = data.config.sys().energy_formula();
        // A model that runs away is clipped (and named) so that the truth stays readable.
        let view = plot::readable_view(&energy, 0);
        let lines = plot::LinePlot { title: &title, x_label: "frame", y_label, log_y: false, series: &energy };
        plot::write_in(&lines, &view, &tmp.join("energy.png"))?;
        if let Some(img) = &phase {
            write_png(img, &tmp.join("phase-space.png"), true)?;
        }
        let text = serde_json::to_string_pretty(&summary).expect("summary serialises");
        std::fs::write(tmp.join("rollout.json"), text).map_err(|e| Error::io(tmp, e))
    })?;
    Ok(summary)
}

const GAP: u32 = 4;
const HEADER: u32 = 24;

/// Copies the grey strip `label` (`w x rows` bytes) into the RGB buffer `px` of width `w`
/// from row `y0`, or the picture's rows of `img` at `(x0, y0)`.
fn blit_grey(px: &mut [u8], w: u32, y0: u32, label: &[u8], label_w: u32, rows: u32) {
    for y in 0..rows {
        for x in 0..label_w {
            let v = label[(y * label_w + x) as usize];
            let i = (((y0 + y) * w + x) * 3) as usize;
            px[i..i + 3].copy_from_slice(&[v, v, v]);
        }
    }
}

fn blit(px: &mut [u8], w: u32, (x0, y0): (u32, u32), img: &RgbImage) {
    let cell = img.width();
    for y in 0..img.height() {
        let row = (((y0 + y) * w + x0) * 3) as usize;
        px[row..row + 3 * cell as usize].copy_from_slice(&img.as_raw()[(y * cell * 3) as usize..((y + 1) * cell * 3) as usize]);
    }
}

fn write_gif(panels: &[Panel], (side, channels): (u32, usize), scale: u32, delay: u16, path: &Path) -> Result<()> {
    let cell = side * scale;
    let (w, h) = (panels.len() as u32 * (cell + GAP) + GAP, HEADER + cell + GAP);
    let labels: Vec<(u32, &str)> = panels.iter().enumerate().map(|(i, p)| (GAP + i as u32 * (cell + GAP), p.name.as_str())).collect();
    let header = plot::label_strip(w, HEADER, &labels).map_err(Error::plot(path))?;
    let palette: Vec<u8> = (0..=255u8).flat_map(|g| [g, g, g]).collect();
    let mut bytes = Vec::new();
    {
        let err = |e: gif::EncodingError| Error::output(path, format!("GIF encoding failed: {e}"));
        let mut enc = gif::Encoder::new(&mut bytes, w as u16, h as u16, &palette).map_err(err)?;
        enc.set_repeat(gif::Repeat::Infinite).map_err(err)?;
        for i in 0..panels[0].frames.len() {
            let mut px = vec![200u8; (w * h * 3) as usize];
            blit_grey(&mut px, w, 0, &header, w, HEADER);
            for (k, p) in panels.iter().enumerate() {
                blit(&mut px, w, (GAP + k as u32 * (cell + GAP), HEADER), &scaled(&p.frames[i], side, scale, channels));
            }
            // Grey frames index the grey palette; RGB ones are quantised to a palette of their own.
            let mut frame = if channels == 1 {
                gif::Frame::from_indexed_pixels(w as u16, h as u16, px.chunks(3).map(|c| c[0]).collect::<Vec<u8>>(), None)
            } else {
                gif::Frame::from_rgb_speed(w as u16, h as u16, &px, 10)
            };
            frame.delay = delay;
            enc.write_frame(&frame).map_err(err)?;
        }
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn write_sheet(panels: &[Panel], (side, channels): (u32, usize), layout: Layout, path: &Path) -> Result<()> {
    let scale = (layout.scale).clamp(1, 3);
    let cell = side * scale;
    let cols: Vec<usize> = (0..panels[0].frames.len()).step_by(layout.every).collect();
    let label_w = 110;
    let (w, h) = (label_w + cols.len() as u32 * (cell + 2) + 2, panels.len() as u32 * (cell + 2) + 2);
    let mut px = vec![200u8; (w * h * 3) as usize];
    for (r, p) in panels.iter().enumerate() {
        let y0 = 2 + r as u32 * (cell + 2);
        let label = plot::label_strip(label_w, 22.min(cell), &[(0, p.name.as_str())]).map_err(Error::plot(path))?;
        blit_grey(&mut px, w, y0, &label, label_w, 22.min(cell));
        for (c, &i) in cols.iter().enumerate() {
            blit(&mut px, w, (label_w + 2 + c as u32 * (cell + 2), y0), &scaled(&p.frames[i], side, scale, channels));
        }
    }
    Sheet::of(RgbImage::from_raw(w, h, px).expect("w * h pixels"), channels).write(path, true)
}

/// A family's learned energy (the HNN's H, the LGN's E) on a grid over the training latents'
/// extent, with those latents.
fn phase_space(model: &Model, train: &Pairs) -> std::result::Result<RgbImage, plot::PlotError> {
    let zs: Vec<f64> = super::encode_all(model, &train.x).concat();
    let pts: Vec<(f64, f64)> = zs.chunks(2).step_by((zs.len() / 2 / 3000).max(1)).map(|c| (c[0], c[1])).collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(a, b) in &pts {
        (x0, x1, y0, y1) = (x0.min(a), x1.max(a), y0.min(b), y1.max(b));
    }
    let (mx, my) = (0.15 * (x1 - x0).max(1e-6), 0.15 * (y1 - y0).max(1e-6));
    let (x0, x1, y0, y1) = (x0 - mx, x1 + mx, y0 - my, y1 + my);
    let g = 120;
    let grid: Vec<f32> = (0..g * g)
        .flat_map(|k| {
            let (i, j) = (k % g, k / g);
            [(x0 + (i as f64 + 0.5) * (x1 - x0) / g as f64) as f32, (y0 + (j as f64 + 0.5) * (y1 - y0) / g as f64) as f32]
        })
        .collect();
    let zg = Tensor::from_slice(&grid).view([(g * g) as i64, 2]).to_device(model.vs.device());
    let h: Vec<f64> = Vec::try_from(
        tch::no_grad(|| model.field.learned_energy(&zg).expect("drawn for a family that learns an energy"))
            .to_device(Device::Cpu)
            .to_kind(Kind::Double),
    )
    .expect("H values");
    let values: Vec<Vec<f64>> = h.chunks(g).map(|r| r.to_vec()).collect();
    plot::heatmap(&plot::Heatmap {
        title: &format!("{}: learned energy over the latent plane (bands = level sets), training latents", model.field.kind().name()),
        x_label: "latent q",
        y_label: "latent p",
        x: (x0, x1),
        y: (y0, y1),
        values: &values,
        bands: 14,
        points: &pts,
    })
}
