pub mod template;
pub mod validate;
