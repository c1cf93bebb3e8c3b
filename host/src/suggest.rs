//! "Did you mean …?": the closest of the names a user could have meant, for
//! messages about a name that is not one of them (an unknown key in the
//! pipeline file, `[limits.streams.NAME]` for a stream no connector offers).

/// The name among `names` that `typo` is closest to, if it is close enough to be
/// a typo of it: at most a third of its characters changed, moved or missing.
pub fn closest<'a>(typo: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let (distance, name) = names.into_iter().map(|n| (strsim::damerau_levenshtein(typo, n), n)).min()?;
    (distance > 0 && distance <= typo.chars().count().div_ceil(3)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name_and_strangers_find_none() {
        assert_eq!(closest("recrods", ["records", "path", "paginator"]), Some("records"));
        assert_eq!(closest("ordres", ["orders", "customers"]), Some("orders"));
        assert_eq!(closest("zzz", ["orders", "customers"]), None);
        assert_eq!(closest("orders", ["orders"]), None, "not a typo");
        assert_eq!(closest("x", []), None);
    }
}
