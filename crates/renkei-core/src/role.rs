//! Roles, permissions and the one table that links them.
//!
//! Authorization is deny-by-default: a role can do exactly what [`Role::grants`] lists.
//! Every route of the server declares an [`Access`] requirement, checked against this
//! table before its handler runs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The people who use the platform (docs/design.md, "Who uses it"). The public has no role:
/// it never signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 利活用者: applies, analyses in the Visiting workspace, requests output release.
    Researcher,
    /// 審査委員: reviews applications.
    CommitteeMember,
    /// 事務局: runs meetings, records decisions, issues permits.
    Secretariat,
    /// DB保有者: describes datasets, ingests data, confirms per-database use.
    Custodian,
    /// Reviews output release requests.
    OutputChecker,
    /// Holds the linkage keys and runs linkage; never sees analysis results.
    LinkageAuthority,
    /// Operator admin: users, roles, keys, settings.
    Admin,
    /// 監督機関: read-only view of every log and record.
    Auditor,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 8] = [
        Role::Researcher,
        Role::CommitteeMember,
        Role::Secretariat,
        Role::Custodian,
        Role::OutputChecker,
        Role::LinkageAuthority,
        Role::Admin,
        Role::Auditor,
    ];

    /// Stable code used in the store, the audit log, the CLI and the API.
    pub fn code(self) -> &'static str {
        match self {
            Role::Researcher => "researcher",
            Role::CommitteeMember => "committee_member",
            Role::Secretariat => "secretariat",
            Role::Custodian => "custodian",
            Role::OutputChecker => "output_checker",
            Role::LinkageAuthority => "linkage_authority",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a stable code (also accepts `-` for `_`, as typed on a command line).
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim().replace('-', "_");
        Role::ALL.into_iter().find(|r| r.code() == s)
    }

    /// What this role may do. This is the whole authorization policy: nothing outside
    /// this list is allowed.
    pub fn grants(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Researcher => &[Apply],
            Role::CommitteeMember => &[Review],
            Role::Secretariat => &[ManageReview],
            Role::Custodian => &[ManageDatasets],
            Role::OutputChecker => &[],
            Role::LinkageAuthority => &[ManageLinkage],
            Role::Admin => &[ManageUsers],
            Role::Auditor => &[ReadAudit],
        }
    }

    /// Whether this role holds `p`.
    pub fn has(self, p: Permission) -> bool {
        self.grants().contains(&p)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A capability beyond being signed in. Add a variant here, grant it in
/// [`Role::grants`], and the route table and its test pick it up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Create, disable and enable users; change their roles.
    ManageUsers,
    /// Read the audit log, verify its integrity and export it.
    ReadAudit,
    /// Register datasets, describe them and ingest data into them.
    ManageDatasets,
    /// Hold the linkage key: register its fingerprint, rotate it, run linkage.
    ManageLinkage,
    /// Apply for access to data: write, submit and follow one's own applications.
    Apply,
    /// Review applications as a committee member: read those under review, declare
    /// conflicts of interest.
    Review,
    /// Run the review as the secretariat: screen applications, keep the committee's
    /// roster and the accreditations, record meetings' decisions.
    ManageReview,
}

impl Role {
    /// Roles whose grant takes a second administrator's approval (or the operator's
    /// accounts duty): they administer accounts, read the whole audit log, or hold the
    /// linkage key.
    pub fn is_privileged(self) -> bool {
        matches!(self, Role::Admin | Role::Auditor | Role::LinkageAuthority)
    }
}

impl Permission {
    /// Whether the permission only reads (what a read-only API token may keep).
    pub fn reads_only(self) -> bool {
        matches!(self, Permission::ReadAudit)
    }

    /// Every permission.
    pub const ALL: [Permission; 7] = [
        Permission::ManageUsers,
        Permission::ReadAudit,
        Permission::ManageDatasets,
        Permission::ManageLinkage,
        Permission::Apply,
        Permission::Review,
        Permission::ManageReview,
    ];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Permission::ManageUsers => "manage_users",
            Permission::ReadAudit => "read_audit",
            Permission::ManageDatasets => "manage_datasets",
            Permission::ManageLinkage => "manage_linkage",
            Permission::Apply => "apply",
            Permission::Review => "review",
            Permission::ManageReview => "manage_review",
        }
    }
}

/// What a route requires of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (catalogue, health checks, sign-in page).
    Public,
    /// Password accepted but the second factor not yet given: MFA enrolment and challenge.
    MfaPending,
    /// Fully signed in (password and TOTP), any role.
    SignedIn,
    /// Fully signed in, holding this permission through at least one role.
    Permission(Permission),
}

/// How far a caller has authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthLevel {
    /// No session.
    Anonymous,
    /// Password accepted; second factor outstanding.
    PasswordOnly,
    /// Password and second factor accepted (or a valid API token).
    Full,
}

/// Why [`Access::check`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    /// Not signed in at all.
    #[error("sign-in required")]
    NotSignedIn,
    /// Signed in with a password, but the second factor is still outstanding.
    #[error("second factor required")]
    MfaRequired,
    /// Signed in, but no role grants the permission.
    #[error("permission {0:?} not granted to any of the caller's roles")]
    Missing(Permission),
    /// The caller holds the permission, but not over this object; the code names why
    /// (`not_custodian`, `not_own_session`, `second_admin_required`, ...).
    #[error("not allowed on this object: {0}")]
    Object(&'static str),
}

impl AccessDenied {
    /// Stable reason code for audit entries and error pages.
    pub fn code(self) -> &'static str {
        match self {
            AccessDenied::NotSignedIn => "not_signed_in",
            AccessDenied::MfaRequired => "mfa_required",
            AccessDenied::Missing(_) => "permission_missing",
            AccessDenied::Object(code) => code,
        }
    }
}

impl Access {
    /// Decides whether `caller` may use a route requiring `self`.
    pub fn check_caller(self, caller: &crate::Caller) -> Result<(), AccessDenied> {
        match self {
            Access::Permission(p) => caller.require(p),
            other => other.check(caller.level(), caller.roles()),
        }
    }

    /// Decides whether a caller at `level` holding `roles` may use a route requiring
    /// `self`. Deny by default: every case not listed is refused.
    pub fn check(self, level: AuthLevel, roles: &[Role]) -> Result<(), AccessDenied> {
        match (self, level) {
            (Access::Public, _) => Ok(()),
            (_, AuthLevel::Anonymous) => Err(AccessDenied::NotSignedIn),
            (Access::MfaPending, _) => Ok(()),
            (_, AuthLevel::PasswordOnly) => Err(AccessDenied::MfaRequired),
            (Access::SignedIn, AuthLevel::Full) => Ok(()),
            (Access::Permission(p), AuthLevel::Full) => {
                if roles.iter().any(|r| r.has(p)) {
                    Ok(())
                } else {
                    Err(AccessDenied::Missing(p))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.code()), Some(r));
        }
        assert_eq!(Role::parse("output-checker"), Some(Role::OutputChecker));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn every_permission_is_granted_to_someone() {
        for p in Permission::ALL {
            assert!(
                Role::ALL.iter().any(|r| r.has(p)),
                "{p:?} is granted to no role"
            );
        }
    }

    #[test]
    fn deny_by_default() {
        use AuthLevel::*;
        let p = Access::Permission(Permission::ManageUsers);
        assert_eq!(p.check(Anonymous, &[]), Err(AccessDenied::NotSignedIn));
        assert_eq!(
            p.check(PasswordOnly, &[Role::Admin]),
            Err(AccessDenied::MfaRequired)
        );
        assert_eq!(
            p.check(Full, &[Role::Researcher, Role::Auditor]),
            Err(AccessDenied::Missing(Permission::ManageUsers))
        );
        assert_eq!(p.check(Full, &[Role::Admin]), Ok(()));
        assert_eq!(Access::SignedIn.check(Full, &[]), Ok(()));
        assert_eq!(
            Access::SignedIn.check(PasswordOnly, &[Role::Admin]),
            Err(AccessDenied::MfaRequired)
        );
        assert_eq!(Access::MfaPending.check(PasswordOnly, &[]), Ok(()));
        assert_eq!(
            Access::MfaPending.check(Anonymous, &[]),
            Err(AccessDenied::NotSignedIn)
        );
        assert_eq!(Access::Public.check(Anonymous, &[]), Ok(()));
    }

    #[test]
    fn auditor_is_read_only_and_admin_cannot_read_audit() {
        // The supervisor's view is separate from the operator's power (S3).
        assert!(!Role::Admin.has(Permission::ReadAudit));
        assert!(!Role::Auditor.has(Permission::ManageUsers));
    }
}
