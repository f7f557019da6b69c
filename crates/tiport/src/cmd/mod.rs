pub mod export;
pub mod import;
pub mod import_status;
pub mod store_args;
pub mod template;
pub mod validate;
pub mod workspace;
