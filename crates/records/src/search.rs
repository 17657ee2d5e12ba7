//! Accent- and case-insensitive matching of Vietnamese names and ids.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Folds text for searching: lowercase, accents removed (NFD, combining marks
/// stripped), `đ`/`Đ` mapped to `d`, runs of whitespace collapsed to one space
/// and leading/trailing whitespace removed.
///
/// `fold("  Nguyễn   Văn Đức ")` is `"nguyen van duc"`.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match c {
            'đ' | 'Đ' => out.push('d'),
            _ => out.extend(c.to_lowercase().filter(|l| !is_combining_mark(*l))),
        }
    }
    out
}

/// Whether a record matches a search query that was already passed through
/// [`fold`]: the id equals or starts with the query (case-insensitive), or the
/// folded name contains it. An empty query matches every record.
pub fn matches(query_folded: &str, id: &str, full_name: &str) -> bool {
    matches_folded(query_folded, &fold(id), &fold(full_name))
}

/// [`matches`] for an id and a name that were already passed through [`fold`] (as a
/// look-up index stores them): no normalisation at query time.
pub fn matches_folded(query_folded: &str, id_folded: &str, name_folded: &str) -> bool {
    query_folded.is_empty()
        || id_folded.starts_with(query_folded)
        || name_folded.contains(query_folded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn folds_vietnamese() {
        assert_eq!(fold("  Nguyễn   Văn Đức "), "nguyen van duc");
        assert_eq!(fold("ĐẶNG THỊ HỒNG NHUNG"), "dang thi hong nhung");
        assert_eq!(fold("Trần\tQuốc\nTuấn"), "tran quoc tuan");
        // NFD input folds the same as NFC input.
        let nfd: String = "Lê Thị Thủy".nfd().collect();
        assert_eq!(fold(&nfd), fold("Lê Thị Thủy"));
        assert_eq!(fold(""), "");
    }

    #[test]
    fn matches_names_and_ids() {
        let q = fold("nguyen van");
        assert!(matches(&q, "HS001", "Nguyễn Văn An"));
        assert!(matches(&fold("Văn An"), "HS001", "nguyễn văn an"));
        assert!(matches(&fold("duc"), "HS002", "Phạm Minh Đức"));
        assert!(!matches(&fold("nguyen van"), "HS003", "Nguyễn Thị Vân Anh"));
        assert!(matches(&fold("hs00"), "HS003", "Lò Văn Páo"));
        assert!(matches(&fold("HS003"), "hs003", "Lò Văn Páo"));
        assert!(!matches(&fold("S003"), "HS003", "Lò Văn Páo"));
        assert!(matches("", "x", "y"));
    }
}
