//! Settings chosen by name (models, devices, tasks, map fits): each lists its variants and
//! their names once, which the command line offers as possible values and config files
//! store.

pub trait Choice: Sized + Copy + PartialEq + 'static {
    const ALL: &'static [Self];

    fn name(self) -> &'static str;

    /// One line for `--help`.
    fn help(self) -> &'static str {
        ""
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}
