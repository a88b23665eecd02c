//! The `IdGenerator` port: where the ids of new records come from (session,
//! audit event, middleware run, MFA factor, ticket). Production uses random
//! v4 UUIDs ([`RandomIds`]); tests fix them.

/// Makes the id of a new record.
pub trait IdGenerator: Send + Sync + 'static {
    /// A new id, unique among the ids this generator made.
    fn new_id(&self) -> String;
}

/// Random v4 UUIDs (hyphenated), from the operating system's generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn new_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}
