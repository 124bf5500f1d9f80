//! The category file (`config/categories.toml`): codes, names, the hotline that owns each
//! category, and the rule for handing it over.

use serde::Deserialize;

/// What a category's rule says about a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The owner handles it.
    Owned,
    /// Tagged on a call of hotline `from`, the linkage with the owner starts at once and the
    /// matter is also dispatched to the local government and departments.
    Immediate { from: usize },
    /// Hotline `first` handles it first, then hands it to the owner.
    FirstHandling { first: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub name_en: String,
    /// Index of the owning hotline.
    pub owner: usize,
    pub rule: Rule,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryFile {
    #[serde(rename = "category", default)]
    pub categories: Vec<CategoryEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryEntry {
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub owner: String,
    pub rule: String,
    pub from: Option<String>,
    pub first: Option<String>,
}

/// Checks the entries against the configured hotlines; problems come back as
/// `(key, message)` pairs for the configuration report.
pub fn load_categories(
    file: &CategoryFile,
    hotlines: &[&str],
) -> (Vec<Category>, Vec<(String, String)>) {
    let mut categories = Vec::new();
    let mut problems = Vec::new();
    let hotline = |name: &str| hotlines.iter().position(|h| *h == name);
    for (i, entry) in file.categories.iter().enumerate() {
        let key = format!("category[{i}]");
        if entry.code.len() != 2 || !entry.code.chars().all(|c| c.is_ascii_digit()) {
            problems.push((
                format!("{key}.code"),
                format!("{:?} is not a two-digit code", entry.code),
            ));
            continue;
        }
        if categories.iter().any(|c: &Category| c.code == entry.code) {
            problems.push((
                format!("{key}.code"),
                format!("code {} is listed twice", entry.code),
            ));
            continue;
        }
        let Some(owner) = hotline(&entry.owner) else {
            problems.push((
                format!("{key}.owner"),
                format!("{:?} is not a configured hotline", entry.owner),
            ));
            continue;
        };
        let named = |field: &Option<String>, name: &str| -> Result<usize, (String, String)> {
            let value = field.as_deref().ok_or_else(|| {
                (
                    format!("{key}.{name}"),
                    format!("rule {:?} needs `{name}`", entry.rule),
                )
            })?;
            hotline(value).ok_or_else(|| {
                (
                    format!("{key}.{name}"),
                    format!("{value:?} is not a configured hotline"),
                )
            })
        };
        let rule = match entry.rule.as_str() {
            "owned" => Ok(Rule::Owned),
            "immediate" => named(&entry.from, "from").map(|from| Rule::Immediate { from }),
            "first-handling" => {
                named(&entry.first, "first").map(|first| Rule::FirstHandling { first })
            }
            other => Err((
                format!("{key}.rule"),
                format!("{other:?} is not a rule (owned, immediate, first-handling)"),
            )),
        };
        match rule {
            Ok(rule) => categories.push(Category {
                code: entry.code.clone(),
                name: entry.name.clone(),
                name_en: entry.name_en.clone(),
                owner,
                rule,
            }),
            Err(problem) => problems.push(problem),
        }
    }
    (categories, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../config/categories.toml");

    #[test]
    fn the_shipped_file_has_the_annex_codes_and_rules() {
        let file: CategoryFile = toml::from_str(SHIPPED).unwrap();
        let (categories, problems) = load_categories(&file, &["12345", "110"]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(categories.len(), 17 + 7 + 4 + 7);
        let by_code = |code: &str| categories.iter().find(|c| c.code == code).unwrap();
        assert_eq!(by_code("01").owner, 0);
        assert_eq!(by_code("27").owner, 1);
        assert_eq!(by_code("33").rule, Rule::Immediate { from: 0 });
        assert_eq!(by_code("33").name, "群体性聚集事件");
        assert_eq!(by_code("41").rule, Rule::FirstHandling { first: 1 });
        assert_eq!(by_code("41").owner, 0);
    }

    #[test]
    fn unknown_hotlines_and_rules_are_named() {
        let file: CategoryFile = toml::from_str(
            "[[category]]\ncode = \"99\"\nname = \"x\"\nname_en = \"x\"\nowner = \"119\"\nrule = \"owned\"\n\
             [[category]]\ncode = \"98\"\nname = \"x\"\nname_en = \"x\"\nowner = \"110\"\nrule = \"soon\"\n",
        )
        .unwrap();
        let (_, problems) = load_categories(&file, &["12345", "110"]);
        assert_eq!(
            problems[0],
            (
                "category[0].owner".into(),
                "\"119\" is not a configured hotline".into()
            )
        );
        assert!(problems[1].1.contains("\"soon\" is not a rule"));
    }
}
