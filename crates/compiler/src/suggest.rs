//! "Did you mean" suggestions for misspelt names.

/// The candidate closest to `wanted`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| {
            (
                aion_types::text::edit_distance(wanted, candidate),
                candidate,
            )
        })
        .filter(|(d, candidate)| *d <= candidate.len().max(wanted.len()).div_ceil(3))
        .min()
        .map(|(_, candidate)| candidate)
}

/// A "did you mean" hint, or a list of the valid names when nothing is close.
pub(crate) fn hint(wanted: &str, candidates: &[&str], what: &str) -> String {
    match closest(wanted, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if candidates.is_empty() => format!("there are no {what} here"),
        None => {
            let mut listed: Vec<&str> = candidates.to_vec();
            listed.sort_unstable();
            listed.dedup();
            let shown: Vec<String> = listed.iter().take(12).map(|c| format!("`{c}`")).collect();
            let more = if listed.len() > 12 { ", …" } else { "" };
            format!("valid {what}: {}{more}", shown.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_only() {
        assert_eq!(closest("confg", ["config", "credential"]), Some("config"));
        assert_eq!(closest("zzz", ["config", "credential"]), None);
        assert_eq!(
            hint("xyz", &["bb", "aa"], "fields"),
            "valid fields: `aa`, `bb`"
        );
        assert_eq!(hint("nodse", &["nodes"], "fields"), "did you mean `nodes`?");
    }
}
