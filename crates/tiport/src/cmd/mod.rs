pub mod template;
pub mod validate;
pub mod validate_csv;
