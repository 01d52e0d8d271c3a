//! Flag parsing shared by the interop binaries, in grpc-go's flag style.

/// A boolean flag's value: `--flag=V`, `--flag V` (V `true` or `false`),
/// or `--flag` alone, which means true (grpc-go's flag package).
pub fn bool_flag(
    flag: &str,
    inline: Option<String>,
    it: &mut std::iter::Peekable<impl Iterator<Item = String>>,
) -> Result<bool, String> {
    let value = match inline {
        Some(value) => value,
        None => match it.peek().map(String::as_str) {
            Some("true" | "false") => it.next().unwrap_or_default(),
            _ => return Ok(true),
        },
    };
    match value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        v => Err(format!("bad {flag} {v:?}: expected true or false")),
    }
}
