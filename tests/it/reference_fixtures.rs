//! The simulator and the renderer against fixtures made by the classic-control environment
//! itself (../shared/fixtures, with make_fixtures.py that produced them).

use crate::common;
use pixel_hnn::systems::pendulum::{PendulumDrawer, PendulumParams, PendulumScene, State};
use pixel_hnn::systems::render::RenderConfig;

#[test]
fn simulator_matches_the_environment_to_1e9_on_every_step() {
    let fx = common::read_json(common::shared("fixtures/reference_trajectory.json"));
    let trajectories = fx["trajectories"].as_array().unwrap();
    assert_eq!(trajectories.len(), 3);
    for t in trajectories {
        let p = PendulumParams { dt: t["dt"].as_f64().unwrap(), g: t["g"].as_f64().unwrap(), ..Default::default() };
        let expect = t["states_theta_thetadot"].as_array().unwrap();
        let s0 = State { theta: t["theta0"].as_f64().unwrap(), thdot: t["thdot0"].as_f64().unwrap() };
        let ours = p.trajectory(s0, expect.len());
        assert_eq!(expect.len(), t["steps"].as_u64().unwrap() as usize + 1);
        for (i, (s, e)) in ours.iter().zip(expect).enumerate() {
            let (th, thd) = (e[0].as_f64().unwrap(), e[1].as_f64().unwrap());
            assert!(
                (s.theta - th).abs() <= 1e-9 && (s.thdot - thd).abs() <= 1e-9,
                "step {i}: ours ({}, {}) vs environment ({th}, {thd})",
                s.theta,
                s.thdot
            );
        }
    }
}

#[test]
fn renderer_matches_the_classic_control_frames() {
    let fx = common::read_json(common::shared("fixtures/reference_frames.json"));
    let frames = fx["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 13);
    let mut r = PendulumDrawer::new(RenderConfig::default(), PendulumScene::default()).unwrap();
    let mut ours = vec![0.0f32; 28 * 28];
    let (mut worst_mean, mut worst_max) = (0.0f64, 0.0f64);
    for f in frames {
        assert_eq!(f["side"].as_u64(), Some(28));
        let reference: Vec<f64> = f["pixels_row_major"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        r.render(f["theta"].as_f64().unwrap(), &mut ours);
        let diffs: Vec<f64> = ours.iter().zip(&reference).map(|(a, b)| (*a as f64 - b).abs()).collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        let max = diffs.iter().cloned().fold(0.0, f64::max);
        eprintln!("deflection {:>6}: mean |diff| {mean:.5}, max {max:.4}", f["deflection"]);
        assert!(mean <= 0.004 && max <= 0.06, "deflection {}: mean {mean}, max {max}", f["deflection"]);
        worst_mean = worst_mean.max(mean);
        worst_max = worst_max.max(max);
    }
    eprintln!("worst over the fixtures: mean {worst_mean:.5}, max {worst_max:.4}");
}
