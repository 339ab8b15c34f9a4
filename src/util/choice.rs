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

/// A clap parser for a setting chosen by name: its names as the possible values, each with
/// its help.
pub fn parser<T: Choice + Clone + Send + Sync>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(T::ALL.iter().map(|c| PossibleValue::new(c.name()).help(c.help())))
        .map(|name| T::from_name(&name).expect("clap offers only known names"))
}
