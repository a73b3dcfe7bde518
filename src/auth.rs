//! Roles and the authenticated caller (ARCHITECTURE.md §9). Policy checks live in the services,
//! which receive the [`Caller`].

use crate::error::ServiceError;

pub use crate::store::Role;

/// Who is calling: the API key's id, role and department (operators always have one).
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub role: Role,
    pub department: Option<String>,
}

impl Caller {
    pub fn require_admin(&self) -> Result<(), ServiceError> {
        self.require(&[Role::Admin])
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), ServiceError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "this action needs the role {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }

    /// An operator acting for `department`: must be an operator of exactly that department.
    pub fn require_operator_of(&self, department: &str) -> Result<(), ServiceError> {
        self.require(&[Role::Operator])?;
        if self.department.as_deref() == Some(department) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(
                "this resource belongs to another department".into(),
            ))
        }
    }
}
