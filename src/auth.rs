//! Roles and the authenticated caller (ARCHITECTURE.md §9). Policy checks live in the services,
//! which receive the [`Caller`].

use crate::error::ServiceError;

pub use crate::store::Role;

/// Who is calling: the API key's id, and by role what the key is bound to. An operator always
/// acts for one department; an auditor for all departments or for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin {
        key_id: String,
    },
    Operator {
        key_id: String,
        department: String,
    },
    Auditor {
        key_id: String,
        department: Option<String>,
    },
    Monitor {
        key_id: String,
    },
}

impl Caller {
    /// The caller of a stored key; `None` for an operator key without a department (such a key
    /// cannot be created).
    pub fn from_key(key_id: String, role: Role, department: Option<String>) -> Option<Caller> {
        Some(match role {
            Role::Admin => Caller::Admin { key_id },
            Role::Operator => Caller::Operator {
                key_id,
                department: department?,
            },
            Role::Auditor => Caller::Auditor { key_id, department },
            Role::Monitor => Caller::Monitor { key_id },
        })
    }

    pub fn key_id(&self) -> &str {
        match self {
            Caller::Admin { key_id }
            | Caller::Operator { key_id, .. }
            | Caller::Auditor { key_id, .. }
            | Caller::Monitor { key_id } => key_id,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Caller::Admin { .. } => Role::Admin,
            Caller::Operator { .. } => Role::Operator,
            Caller::Auditor { .. } => Role::Auditor,
            Caller::Monitor { .. } => Role::Monitor,
        }
    }

    /// The department the key is bound to (an operator's, or a department-bound auditor's).
    pub fn department(&self) -> Option<&str> {
        match self {
            Caller::Operator { department, .. } => Some(department),
            Caller::Auditor { department, .. } => department.as_deref(),
            Caller::Admin { .. } | Caller::Monitor { .. } => None,
        }
    }

    pub fn require_admin(&self) -> Result<(), ServiceError> {
        self.require(&[Role::Admin])
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), ServiceError> {
        if roles.contains(&self.role()) {
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

    /// An operator: the department it acts for.
    pub fn require_operator(&self) -> Result<&str, ServiceError> {
        match self {
            Caller::Operator { department, .. } => Ok(department),
            _ => Err(ServiceError::Forbidden(
                "this action needs the role operator".into(),
            )),
        }
    }

    /// An operator acting for `department`: must be an operator of exactly that department.
    pub fn require_operator_of(&self, department: &str) -> Result<(), ServiceError> {
        if self.require_operator()? == department {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(
                "this resource belongs to another department".into(),
            ))
        }
    }
}
