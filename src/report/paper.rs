//! The paper's numbers: Table 1 of "Hamiltonian Neural Networks" (Greydanus, Dzamba,
//! Yosinski, 2019), the one home of every figure the project compares itself with
//! (SPEC.md sections 6 and 8).
//!
//! Values are stored in absolute units; each row names the unit the table prints it in
//! (x1e3, or x1e6 for two-body). SPEC.md gives the +- of the pixel row only; the coordinate
//! rows carry their means.

/// A published figure: its mean and, where SPEC.md records it, its +-.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figure {
    pub mean: f64,
    pub pm: Option<f64>,
}

const fn fig(mean: f64) -> Figure {
    Figure { mean, pm: None }
}

const fn fig_pm(mean: f64, pm: f64) -> Figure {
    Figure { mean, pm: Some(pm) }
}

/// A (baseline, HNN) pair of figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub baseline: Figure,
    pub hnn: Figure,
}

impl Pair {
    /// Baseline over HNN, as the paper's claim reads.
    pub fn ratio(&self) -> f64 {
        self.baseline.mean / self.hnn.mean
    }
}

/// The published figures of one row of Table 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Values {
    pub train_loss: Pair,
    pub test_loss: Pair,
    pub energy_mse: Pair,
}

/// The rows of Table 1, in the paper's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Row {
    Spring,
    Pendulum,
    RealPendulum,
    TwoBody,
    PixelPendulum,
}

impl Row {
    pub const ALL: [Row; 5] = [Row::Spring, Row::Pendulum, Row::RealPendulum, Row::TwoBody, Row::PixelPendulum];

    /// The factor the table multiplies this row's figures by.
    pub fn unit(self) -> f64 {
        if self == Row::TwoBody {
            1e6
        } else {
            1e3
        }
    }

    pub fn values(self) -> Values {
        let pair = |b: Figure, h: Figure| Pair { baseline: b, hnn: h };
        let k = 1e-3;
        match self {
            Row::Spring => Values {
                train_loss: pair(fig(37.0 * k), fig(37.0 * k)),
                test_loss: pair(fig(37.0 * k), fig(36.0 * k)),
                energy_mse: pair(fig(170.0 * k), fig(0.38 * k)),
            },
            Row::Pendulum => Values {
                train_loss: pair(fig(33.0 * k), fig(33.0 * k)),
                test_loss: pair(fig(35.0 * k), fig(36.0 * k)),
                energy_mse: pair(fig(42.0 * k), fig(25.0 * k)),
            },
            Row::RealPendulum => Values {
                train_loss: pair(fig(2.7 * k), fig(9.2 * k)),
                test_loss: pair(fig(2.2 * k), fig(6.0 * k)),
                energy_mse: pair(fig(390.0 * k), fig(14.0 * k)),
            },
            Row::TwoBody => {
                let u = 1e-6;
                Values {
                    train_loss: pair(fig(33.0 * u), fig(3.0 * u)),
                    test_loss: pair(fig(30.0 * u), fig(2.8 * u)),
                    energy_mse: pair(fig(6.3e4 * u), fig(39.0 * u)),
                }
            }
            // SPEC.md section 6: the values behind the printed 18, 19, 17, 18 and 9.3, .15.
            Row::PixelPendulum => Values {
                train_loss: pair(fig_pm(1.7731e-4, 2.42e-6), fig_pm(1.8683e-4, 2.42e-6)),
                test_loss: pair(fig_pm(1.7306e-4, 3.24e-6), fig_pm(1.8451e-4, 3.34e-6)),
                energy_mse: pair(fig_pm(9.2748e-3, 1.14e-3), fig_pm(1.5315e-4, 8.42e-6)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_claims_hold_in_its_own_numbers() {
        // Pixel pendulum: about 60x less energy error, losses on par (SPEC.md section 6).
        let px = Row::PixelPendulum.values();
        assert!((px.energy_mse.ratio() - 60.6).abs() < 0.1, "{}", px.energy_mse.ratio());
        assert!((px.test_loss.hnn.mean / px.test_loss.baseline.mean - 1.0).abs() < 0.1);
        // Every row: the HNN's energy error is below the baseline's.
        for t in Row::ALL {
            assert!(t.values().energy_mse.ratio() > 1.0, "{t:?}");
        }
        assert_eq!(Row::TwoBody.unit(), 1e6);
    }
}
