//! Stage 2b, training: the one loop that fits every model of the project, the pixel
//! autoencoder with its latent field (SPEC.md section 5) and the coordinate tasks' fields
//! (section 8). It draws seeded batches, steps Adam, logs, checkpoints and stops on a
//! non-finite loss; where the log and the checkpoints go is its caller's [`Recorder`]
//! (a run folder: [`crate::run::RunRecorder`]; the coordinate tasks: [`MemoryLog`]).
//!
//! `config.rs` holds the settings, `fit.rs` the loop, `stack.rs` what K members of a family
//! are, `members.rs` and `autograd_members.rs` the two ways they train; here, the choice
//! between those two.

pub mod autograd_members;
mod config;
mod fit;
pub mod members;
pub mod stack;

pub use config::*;
pub use fit::*;

use crate::dataset::Samples;

/// The members of `stack` on `data` (on the stack's device): through the family's
/// hand-written step where it has one and trains as the paper did, else through autograd
/// over windows of the stack's horizon.
pub fn members_for(
    stack: &stack::Stack,
    data: &crate::dataset::PixelDataset,
    threads: crate::runtime::ThreadChoice,
) -> Box<dyn stack::PixelMembers> {
    if stack.trains_as_paper() {
        let (train, test) = (
            data.pairs(crate::dataset::Split::Train).to_device(stack.device),
            data.pairs(crate::dataset::Split::Test).to_device(stack.device),
        );
        Box::new(members::Members::new(stack, train, test, threads))
    } else {
        let k = stack.train.window_pairs();
        let (train, test) = (
            data.windows(crate::dataset::Split::Train, k).to_device(stack.device),
            data.windows(crate::dataset::Split::Test, k).to_device(stack.device),
        );
        members_for_windows(stack, train, test, threads)
    }
}

/// The members of `stack` trained through autograd over the windows `train` (tested on
/// `test`), whatever the family.
pub fn members_for_windows(
    stack: &stack::Stack,
    train: crate::dataset::Windows,
    test: crate::dataset::Windows,
    threads: crate::runtime::ThreadChoice,
) -> Box<dyn stack::PixelMembers> {
    Box::new(autograd_members::AutogradMembers::new(stack, train, test, threads))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dataset::Pairs;
    use crate::model::FieldKind;
    use crate::util::adam::AdamConfig;
    use tch::{Device, Tensor};

    /// `n` random pairs of 18 values (tests of the members).
    pub(crate) fn pairs(n: i64, seed: u64) -> Pairs {
        let r = |s: u64| crate::model::seeded(s, || Tensor::rand([n, 18], (tch::Kind::Float, Device::Cpu)) * 0.5);
        let empty = Tensor::zeros([0], (tch::Kind::Float, Device::Cpu));
        Pairs { x: r(seed), x_next: r(seed + 1), labels: empty.shallow_clone(), energy: empty }
    }

    /// The pairs of [`pairs`] as windows of one frame: trial `i` holds `x[i]` and
    /// `x_next[i]`, so window `i` is sample `i`.
    pub(crate) fn windows(n: i64, seed: u64) -> crate::dataset::Windows {
        let p = pairs(n, seed);
        let both = Tensor::stack(&[p.x, p.x_next], 1).view([2 * n, 18]);
        crate::dataset::Windows { pairs: both, trials: n as usize, pairs_per_trial: 2, span: 1 }
    }

    /// Small HNN members of `seeds` on [`pairs`], batch 8, on the CPU, Adam at lr 1e-2.
    pub(crate) fn small_stack(seeds: &[u64]) -> stack::Stack {
        stack::Stack {
            train: TrainConfig {
                seeds: seeds.to_vec(),
                steps: 100,
                batch: 8,
                adam: AdamConfig { lr: 1e-2, ..AdamConfig::default() },
                ..TrainConfig::default()
            },
            model: crate::model::ModelConfig {
                input_dim: 18,
                frame_channels: 1,
                ae_hidden: 16,
                latent_dim: 2,
                field_hidden: 12,
                arch: Default::default(),
                field_settings: Default::default(),
            },
            kind: FieldKind::Hnn,
            device: Device::Cpu,
        }
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let base = TrainConfig { batch: 32, ..TrainConfig::default() };
        let o = TrainOverrides { steps: Some(7), lr: Some(0.5), ..TrainOverrides::default() };
        let c = o.apply(base.clone());
        assert_eq!((c.steps, c.adam.lr, c.batch, &c.seeds), (7, 0.5, 32, &base.seeds));
        assert_eq!(TrainOverrides::default().apply(base.clone()), base);
    }

    #[test]
    fn seed_lists_parse_and_bad_ones_are_named() {
        assert_eq!(Seeds::parse("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(Seeds::parse("0,3,7").unwrap(), vec![0, 3, 7]);
        assert_eq!(Seeds::parse("5, 0-2").unwrap(), vec![5, 0, 1, 2]);
        assert_eq!(Seeds::parse("0-1023").unwrap().len(), 1024);
        for (text, says) in [
            ("", "empty item"),
            ("3-1", "reversed"),
            ("a", "'a' is not a seed"),
            ("1-", "'' is not a seed"),
            ("0-1024", "at most 1024"),
            ("1,2,1", "seed 1 twice"),
            ("-3", "'' is not a seed"),
        ] {
            let e = Seeds::parse(text).unwrap_err().to_string();
            assert!(e.starts_with("--seeds: ") && e.contains(says), "{text}: {e}");
        }
        assert_eq!(Seeds::describe(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10,11");
    }

    #[test]
    fn log_lines_keep_the_layout_of_their_files() {
        let line = LogLine { ae: Some(1.0), cc: Some(2.0), latent: Some(3.0), loss: 0.5, roll: None, step: 10, test_loss: None };
        assert_eq!(serde_json::to_string(&line).unwrap(), r#"{"ae":1.0,"cc":2.0,"hnn":3.0,"loss":0.5,"step":10}"#);
        let bare = LogLine { ae: None, cc: None, latent: None, loss: 0.5, roll: None, step: 0, test_loss: Some(0.25) };
        assert_eq!(serde_json::to_string(&bare).unwrap(), r#"{"loss":0.5,"step":0,"test_loss":0.25}"#);
    }
}
