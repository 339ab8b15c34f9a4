//! The DeepMind suite's presets against the suite's own generator: tests/fixtures/dm_suite.h5
//! holds trajectories made by its `datasets.generate_sample` (commit 345a1a5, run by
//! tests/fixtures/make_dm_suite_fixture.py with jax on CPU). From each trajectory's initial
//! state, parameters, offset and colours, ours must give the same states, time derivatives
//! and frames.

use pixel_hnn::systems::suite::{Draws, Suite, SuiteSystem, SUITE_FRICTION};

fn fixture() -> hdf5::File {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dm_suite.h5");
    hdf5::File::open(path).unwrap()
}

/// The suite's dataset names and our presets.
fn presets() -> Vec<(&'static str, Suite)> {
    use SuiteSystem::*;
    let plain = Suite::plain;
    let colors = |system| Suite { system, colors: true, friction: 0.0 };
    let friction = |system| Suite { system, colors: true, friction: SUITE_FRICTION };
    vec![
        ("pendulum", plain(Pendulum)),
        ("mass_spring", plain(MassSpring)),
        ("double_pendulum", plain(DoublePendulum)),
        ("two_body", plain(TwoBody)),
        ("pendulum_colors", colors(Pendulum)),
        ("pendulum_colors_friction", friction(Pendulum)),
        ("mass_spring_colors_friction", friction(MassSpring)),
        ("double_pendulum_colors", colors(DoublePendulum)),
        ("two_body_colors", colors(TwoBody)),
    ]
}

fn f64s(g: &hdf5::Group, name: &str) -> Vec<f64> {
    g.dataset(name).unwrap().read_raw::<f64>().unwrap()
}

fn attr_f64(g: &hdf5::Group, name: &str) -> f64 {
    g.attr(name).unwrap().read_scalar::<f64>().unwrap()
}

/// A trajectory's draws as the suite recorded them, in our parameter order.
fn draws(suite: &Suite, g: &hdf5::Group) -> Draws {
    let other = g.group("other").unwrap();
    let mut params = vec![];
    for name in suite.param_names() {
        let v = match (suite.system, name) {
            // The suite draws the two bodies' masses as one array `m`.
            (SuiteSystem::TwoBody, "m_1") => f64s(&other, "m")[0],
            (SuiteSystem::TwoBody, "m_2") => f64s(&other, "m")[1],
            _ => f64s(&other, name)[0],
        };
        params.push(v);
    }
    let o = f64s(&other, "offset");
    // The plain mass-spring's offset has one entry, broadcast to both axes.
    let offset = if o.len() == 1 { [o[0], o[0]] } else { [o[0], o[1]] };
    let colors = other.dataset("color_index").unwrap().read_raw::<i64>().unwrap().into_iter().map(|c| c as usize).collect();
    Draws { params, offset, colors }
}

#[test]
fn every_presets_canvas_colours_and_friction_are_the_suites() {
    let f = fixture();
    for (name, suite) in presets() {
        let g = f.group(name).unwrap();
        let canvas = suite.full_canvas();
        assert!((canvas.min - attr_f64(&g, "canvas_min")).abs() < 1e-6, "{name}: {} vs {}", canvas.min, attr_f64(&g, "canvas_min"));
        assert!((canvas.max - attr_f64(&g, "canvas_max")).abs() < 1e-6, "{name}");
        assert_eq!(suite.num_colors() as i64, g.attr("num_colors").unwrap().read_scalar::<i64>().unwrap(), "{name}");
        assert_eq!(suite.friction, attr_f64(&g, "friction"), "{name}");
        assert_eq!(pixel_hnn::systems::suite::DT, attr_f64(&g, "dt"), "{name}");
        // The suite's draws lie in our preset's ranges.
        for t in ["0", "1"] {
            let d = draws(&suite, &g.group(t).unwrap());
            for ((pname, range), v) in suite.param_ranges().iter().zip(&d.params) {
                assert!(*v >= range.min - 1e-6 && *v <= range.max + 1e-6, "{name} {pname} = {v} outside {range:?}");
            }
            assert!(d.colors.iter().all(|&c| c < suite.num_colors()), "{name}");
        }
    }
}

#[test]
fn states_and_time_derivatives_match_the_suite_from_its_initial_states() {
    let f = fixture();
    for (name, suite) in presets() {
        let g = f.group(name).unwrap();
        for t in ["0", "1"] {
            let tr = g.group(t).unwrap();
            let d = draws(&suite, &tr);
            let x = f64s(&tr, "x");
            let dim = 2 * suite.dof();
            let n = x.len() / dim;
            let ours = suite.simulate(&d.params, &x[..dim], n).unwrap();
            let worst = ours.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst <= 1e-6, "{name}/{t}: states differ by {worst:e} over {n} frames");
            // The suite's dx_dt: the conservative field at its own states (friction left out).
            let dx = f64s(&tr, "dx_dt");
            let mut field = vec![0.0; dim];
            for (z, want) in x.chunks(dim).zip(dx.chunks(dim)) {
                suite.field(&d.params, z, &mut field);
                for (a, b) in field.iter().zip(want) {
                    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{name}/{t}: dx_dt {a} vs {b}");
                }
            }
            assert!(suite.stays_in_canvas(&d.params, &x), "{name}/{t}: the suite kept it, so it stays in the canvas");
        }
    }
}

#[test]
fn frames_match_the_suites_within_one_grey_level() {
    let f = fixture();
    for (name, suite) in presets() {
        let g = f.group(name).unwrap();
        for t in ["0", "1"] {
            let tr = g.group(t).unwrap();
            let d = draws(&suite, &tr);
            let x = f64s(&tr, "x");
            let image = tr.dataset("image").unwrap().read_raw::<u8>().unwrap();
            let dim = 2 * suite.dof();
            let mut frame = vec![0u8; 32 * 32 * 3];
            let (mut worst, mut off) = (0i32, 0usize);
            for (z, want) in x.chunks(dim).zip(image.chunks(frame.len())) {
                suite.render(&d, z, &mut frame);
                for (a, b) in frame.iter().zip(want) {
                    let diff = (*a as i32 - *b as i32).abs();
                    worst = worst.max(diff);
                    off += (diff > 0) as usize;
                }
            }
            assert!(worst <= 1, "{name}/{t}: a pixel differs by {worst} grey levels");
            // Off by one only where the value sits on a level's edge (float rounding before
            // the truncation): a handful of the 310,272 values.
            assert!(off <= image.len() / 1000, "{name}/{t}: {off} values off by one");
        }
    }
}
