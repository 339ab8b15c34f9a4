//! Settings chosen by name: the trait is the data crate's ([`pixel_hnn_data::choice`]);
//! here, the clap parser the command line offers them through.

pub use pixel_hnn_data::choice::Choice;

/// A clap parser for a setting chosen by name: its names as the possible values, each with
/// its help.
pub fn parser<T: Choice + Clone + Send + Sync>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(T::ALL.iter().map(|c| PossibleValue::new(c.name()).help(c.help())))
        .map(|name| T::from_name(&name).expect("clap offers only known names"))
}
