//! Building and validating instances as a channel of their own: how a rule,
//! a channel's share of the rules and each written channel are checked.

use changuard_format::build::{self, ChannelSpec, InstanceSpec, SigningKey};
use changuard_format::schema;
use changuard_format::{AlignedBytes, Trust};

/// A refusal: the bucket reason and an optional detail.
pub(super) type Refusal = (String, Option<String>);

/// Build and validate `insts` as a channel of their own; the file size and
/// the proven per-event fuel bound (the largest over template types).
pub(super) fn build_checked(
    insts: &[InstanceSpec],
    channel: u32,
    version: u64,
    key: &SigningKey,
    trusted: &[changuard_format::TrustedKey],
) -> Result<(usize, u64), Refusal> {
    let mut v = insts.to_vec();
    for (k, i) in v.iter_mut().enumerate() {
        i.id = u32::try_from(k).unwrap_or(u32::MAX).saturating_add(1);
    }
    let spec = ChannelSpec {
        channel,
        version,
        schema_id: schema::SCHEMA_ID,
        instances: v,
    };
    let options = build::BuildOptions {
        group_regexes: true,
    };
    let bytes = build::build_with(&spec, key, &options).map_err(|e| match e {
        build::BuildError::RegexTooLarge { .. } => (
            "regex exceeds the 1 MiB DFA cap".to_string(),
            Some(e.to_string()),
        ),
        build::BuildError::Regex { .. } => {
            ("regex does not compile".to_string(), Some(e.to_string()))
        }
        _ => ("does not build".to_string(), Some(e.to_string())),
    })?;
    let aligned = AlignedBytes::from_slice(&bytes);
    let valid = changuard_format::validate(aligned.as_ref(), &Trust::new(trusted), channel)
        .map_err(|r| {
            let reason = if r.rule == changuard_format::Rule::DfaTooLarge {
                "regexes exceed the channel's 8 MiB DFA cap"
            } else {
                "rejected by the validator"
            };
            (reason.to_string(), Some(format!("{r:?}")))
        })?;
    Ok((bytes.len(), valid.cost_bound().max()))
}
